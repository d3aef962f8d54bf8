import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { normaliseDenyList, renderDenyList, sameDenyList } from '../../authorizer/document.ts';
import type { DenyListDesired, DenyListPort } from '../../ports.ts';

/** The deny list in memory (tests): the normalised lists, and how many times they changed. */
export class MemoryDenyList implements DenyListPort {
  current: DenyListDesired = { principals: [], cidrs: [] };
  writes = 0;

  async read(): Promise<DenyListDesired> {
    return this.current;
  }

  async apply(desired: DenyListDesired): Promise<{ changed: boolean }> {
    const want = normaliseDenyList(desired);
    if (this.writes > 0 && sameDenyList(want, this.current)) return { changed: false };
    this.current = want;
    this.writes++;
    return { changed: true };
  }
}

/**
 * `deny-list.json` in a replay's or rehearsal's output folder: the document contain would put in S3, byte for byte
 * but for `updatedAt`, which is the run's clock (log time in a replay, simulated wall time in a rehearsal).
 */
export class DenyListFile implements DenyListPort {
  private readonly memory = new MemoryDenyList();

  constructor(private readonly dir: string, private readonly clock: () => number) {}

  async read(): Promise<DenyListDesired> {
    return this.memory.read();
  }

  async apply(desired: DenyListDesired): Promise<{ changed: boolean }> {
    const r = await this.memory.apply(desired);
    if (r.changed) writeFileSync(join(this.dir, 'deny-list.json'), renderDenyList(this.memory.current, this.clock()));
    return r;
  }
}
