import { describe, expect, it } from 'vitest';
import { ProgressBar } from '../../src/cli/progress.ts';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream };
}

describe('ProgressBar', () => {
  it('draws on a terminal and clears itself', () => {
    const { writes, stream } = fakeStream(true);
    const bar = new ProgressBar(stream);
    bar.update(50, 100);
    expect(writes.at(-1)).toMatch(/^\r\[#{15}\.{15}\]\s+50%/);
    bar.clear();
    expect(writes.at(-1)).toBe('\r\x1b[2K');
  });

  it('writes nothing into a pipe or a CI log', () => {
    const { writes, stream } = fakeStream(false);
    const bar = new ProgressBar(stream);
    bar.update(50, 100);
    bar.clear();
    expect(writes).toEqual([]);
  });
});
