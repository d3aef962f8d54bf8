import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readAccessLogs } from '../../src/decode/read-access-logs.ts';

const dir = mkdtempSync(join(tmpdir(), 'cordon-read-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MB = 1 << 20;
const line = (ua: string) => `192.0.2.1 - - [02/Nov/2026:00:00:00 +0000] "GET /x HTTP/1.1" 200 10 "-" "${ua}"\n`;

/**
 * ASCII lines up to `at - lead` bytes, the last one left open inside its agent: the caller writes the rest of that
 * agent (its first `lead` bytes end the chunk) and closes the line.
 */
function padTo(parts: Buffer[], at: number, lead: number): void {
  let size = parts.reduce((n, b) => n + b.length, 0);
  const open = line('').slice(0, -2);
  for (;;) {
    const l = Buffer.from(line('a'.repeat(100)));
    if (size + l.length + open.length + 10 > at - lead) break;
    parts.push(l);
    size += l.length;
  }
  parts.push(Buffer.from(open + 'b'.repeat(at - lead - size - open.length)));
}

describe('replay: the file reader', () => {
  it('reads text split anywhere across its 1 MiB chunks as one UTF-8 decode of the whole file would (ASCII fast path included)', async () => {
    const parts: Buffer[] = [];
    // A character split by the first chunk boundary (€ is e2 82 ac), then ASCII chunks, then a lone lead byte at the
    // second boundary followed by an ASCII chunk (the decoder owes a U+FFFD for it), then a chunk with é inside.
    padTo(parts, MB, 1);
    parts.push(Buffer.from('€uro"\n'));
    padTo(parts, 2 * MB, 1);
    parts.push(Buffer.from([0xe2]), Buffer.from('x"\n'));
    padTo(parts, 3 * MB + 100, 0);
    parts.push(Buffer.from('"\n' + line('café')));
    const bytes = Buffer.concat(parts);
    expect([bytes[MB - 1], bytes[2 * MB - 1]]).toEqual([0xe2, 0xe2]);
    const file = join(dir, 'split.log');
    writeFileSync(file, bytes);
    const agents: string[] = [];
    const stats = await readAccessLogs([file], { event: (e) => { agents.push(e.userAgent); }, unreadable: () => {} });
    const expected = bytes.toString('utf8').split('\n').filter(Boolean).map((l) => /"([^"]*)"$/.exec(l)![1]);
    expect(stats.unreadable).toBe(0);
    expect(agents).toEqual(expected);
    expect(agents.filter((a) => /[^a-z]/.test(a)).map((a) => a.replace(/^b+/, ''))).toEqual(['€uro', '\ufffdx', 'café']);
  });
});
