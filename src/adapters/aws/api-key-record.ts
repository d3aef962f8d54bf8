/**
 * cordon's record of the API keys it disabled: the document and its port (no SDK here: functions/env.ts imports the
 * default key, and every function's bundle imports env.ts).
 */

/** Where the record of the keys cordon disabled lives, by default, in the state bucket (not under win/ or base/). */
export const API_KEY_RECORD_DEFAULT_KEY = 'api-keys/disabled-v1.json';

/** One key cordon disabled: when it decided to (ISO), and the key's lastUpdatedDate its own update left (epoch ms). */
export interface DisabledKey {
  since: string;
  /** Absent while the update's outcome is not known (recorded before the write: see ApiGatewayApiKeyAdapter in api-keys.ts). */
  updatedAt?: number;
}

/**
 * The keys cordon disabled and may therefore re-enable: cordon's own record, in one small document.
 *
 * Why a record of cordon's own and not a tag on the key (`cordon:disabled`): a tag would sit with the key, but finding
 * the keys cordon tagged needs GetApiKeys over every key of the account each run (pages of 500; SaaS accounts hold
 * tens of thousands of keys, against a control-plane quota of 10 requests per second shared with everything else),
 * tagging is one more write per key (TagResource, with an IAM grant on the `/tags/…` resource), and the emulator the
 * acceptance runs on (moto 5.2) cannot tag API keys at all. The record is read with one conditional GET per run, it
 * names exactly the keys to look at on release, and nothing of the key's owner (name, description, tags) is touched.
 */
export interface DisabledKeyRecord {
  read(): Promise<Map<string, DisabledKey>>;
  write(keys: ReadonlyMap<string, DisabledKey>): Promise<void>;
}

export class ApiKeyRecordFormatError extends Error {
  override name = 'ApiKeyRecordFormatError';
}

/** `{"version":1,"updatedAt":"…","keys":{"<id>":{"since":"…","updatedAt":<ms>}}}`, keys sorted. */
export function renderApiKeyRecord(keys: ReadonlyMap<string, DisabledKey>, now: number): string {
  const sorted = Object.fromEntries([...keys].sort(([a], [b]) => (a < b ? -1 : 1)));
  return JSON.stringify({ version: 1, updatedAt: new Date(now).toISOString(), keys: sorted });
}

export function parseApiKeyRecord(text: string): Map<string, DisabledKey> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ApiKeyRecordFormatError('the API-key record is not JSON');
  }
  const d = doc as { version?: unknown; keys?: unknown } | null;
  if (!d || d.version !== 1 || typeof d.keys !== 'object' || d.keys === null || Array.isArray(d.keys)) {
    throw new ApiKeyRecordFormatError('the API-key record is not a version 1 document');
  }
  const out = new Map<string, DisabledKey>();
  for (const [id, v] of Object.entries(d.keys as Record<string, unknown>)) {
    const e = v as { since?: unknown; updatedAt?: unknown } | null;
    if (!e || typeof e.since !== 'string') throw new ApiKeyRecordFormatError(`the API-key record's entry ${id} has no since`);
    out.set(id, { since: e.since, ...(typeof e.updatedAt === 'number' ? { updatedAt: e.updatedAt } : {}) });
  }
  return out;
}
