import type { DisabledKey, DisabledKeyRecord } from '../aws/api-key-record.ts';

/** {@link DisabledKeyRecord} in memory (tests, the local runner): what the S3 record holds, without S3. */
export class MemoryApiKeyRecord implements DisabledKeyRecord {
  keys = new Map<string, DisabledKey>();
  writes = 0;

  async read(): Promise<Map<string, DisabledKey>> {
    return new Map(this.keys);
  }

  async write(keys: ReadonlyMap<string, DisabledKey>): Promise<void> {
    this.keys = new Map(keys);
    this.writes++;
  }
}
