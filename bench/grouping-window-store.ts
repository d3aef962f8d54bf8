import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { WindowPart, WindowStore } from '../src/ports-window.ts';

/**
 * A what-if for the cost model (bench only): the parts one detect invocation stores for one window go into one
 * item (or a few, under DynamoDB's item size) instead of one item per part. Every part of a summary record is
 * its own DynamoDB write today, and there are as many parts as (source record, bucket, window) triples.
 * Redelivery of the same batch rewrites the same item (its id is a digest of the part ids); a batch split
 * differently on retry would store its parts again, which the real change would have to handle (for example by
 * keeping the part ids in the item and skipping known ones when a window is merged).
 */
const MAX_GROUP_BYTES = 300 * 1024;

export class GroupingWindowStore implements WindowStore {
  /** `gzip`: the item body is the group gzip'd (base64, as the adapter stores text), a further what-if. */
  constructor(private readonly inner: WindowStore, private readonly gzip = false) {}

  async add(scope: string, parts: WindowPart[]): Promise<void> {
    const byWindow = new Map<number, WindowPart[]>();
    for (const p of parts) {
      const list = byWindow.get(p.windowStart) ?? [];
      list.push(p);
      byWindow.set(p.windowStart, list);
    }
    const grouped: WindowPart[] = [];
    for (const [windowStart, list] of byWindow) for (const group of sized(list)) grouped.push(combine(windowStart, group, this.gzip));
    await this.inner.add(scope, grouped);
  }

  async read(scope: string, windowStart: number): Promise<{ partId: string; body: string }[]> {
    const out: { partId: string; body: string }[] = [];
    for (const item of await this.inner.read(scope, windowStart)) {
      const text = this.gzip ? gunzipSync(Buffer.from(item.body, 'base64')).toString('utf8') : item.body;
      const bodies = JSON.parse(text) as string[];
      bodies.forEach((body, i) => out.push({ partId: `${item.partId}/${i}`, body }));
    }
    return out;
  }

  openWindows(scope: string): Promise<number[]> {
    return this.inner.openWindows(scope);
  }

  drop(scope: string, windowStart: number): Promise<void> {
    return this.inner.drop(scope, windowStart);
  }

  getWatermark(scope: string): Promise<number> {
    return this.inner.getWatermark(scope);
  }

  setWatermark(scope: string, t: number): Promise<void> {
    return this.inner.setWatermark(scope, t);
  }
}

function* sized(parts: WindowPart[]): Generator<WindowPart[]> {
  let group: WindowPart[] = [];
  let bytes = 0;
  for (const p of parts) {
    const n = Buffer.byteLength(p.body) + 8;
    if (group.length && bytes + n > MAX_GROUP_BYTES) {
      yield group;
      group = [];
      bytes = 0;
    }
    group.push(p);
    bytes += n;
  }
  if (group.length) yield group;
}

function combine(windowStart: number, parts: WindowPart[], gzip: boolean): WindowPart {
  const id = createHash('sha256').update(parts.map((p) => p.partId).sort().join('\n')).digest('hex').slice(0, 40);
  const text = JSON.stringify(parts.map((p) => p.body));
  return { windowStart, partId: `g/${id}`, body: gzip ? gzipSync(text).toString('base64') : text };
}
