import { GetApiKeyCommand, UpdateApiKeyCommand, type APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ApiKeyApplyResult, ApiKeyPort } from '../../ports.ts';
import { API_KEY_RECORD_DEFAULT_KEY, ApiKeyRecordFormatError, type DisabledKey, type DisabledKeyRecord, parseApiKeyRecord,
  renderApiKeyRecord } from './api-key-record.ts';
import { AwsAdapterError, AwsRejectedError, AwsUnavailableError } from './errors.ts';
import { awsErrorName, httpStatus, isThrottling, isTransient, type BackoffOptions, withRetries } from './retry.ts';
import { WritePacer } from './write-pacer.ts';
import { API_KEY_ID_SHAPE } from '../../decode/principal-key.ts';

export { API_KEY_RECORD_DEFAULT_KEY, type DisabledKey, type DisabledKeyRecord } from './api-key-record.ts';

/**
 * What a principal must look like to be worth a GetApiKey: API Gateway's key ids are short lower-case alphanumerics
 * (10 characters today). IAM ARNs, Cognito subs (UUIDs with dashes), IAM unique ids (upper case) and most authorizer
 * principalIds fail this for free; the rest cost one GetApiKey, then are remembered as no key.
 */
export { API_KEY_ID_SHAPE };

export interface S3ApiKeyRecordOptions {
  bucket: string;
  /** Default {@link API_KEY_RECORD_DEFAULT_KEY}. */
  key?: string;
  clock?: () => number;
  backoff?: Partial<BackoffOptions>;
}

/**
 * {@link DisabledKeyRecord} on one S3 object of cordon's state bucket. Read conditionally (the ETag last seen: an
 * unchanged record costs a 304). No object: nothing disabled yet. An object that is not a record is an error (a
 * failure of the `api-keys` target): treating it as empty would forget keys cordon must re-enable. One writer (contain
 * runs with reserved concurrency 1), so a plain put.
 */
export class S3ApiKeyRecord implements DisabledKeyRecord {
  readonly bucket: string;
  readonly key: string;
  private readonly clock: () => number;
  private readonly backoff: BackoffOptions;
  private last: { etag: string; keys: Map<string, DisabledKey> } | undefined;

  constructor(private readonly client: S3Client, opts: S3ApiKeyRecordOptions) {
    this.bucket = opts.bucket;
    this.key = opts.key ?? API_KEY_RECORD_DEFAULT_KEY;
    this.clock = opts.clock ?? Date.now;
    this.backoff = { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 2_000, ...opts.backoff };
  }

  async read(): Promise<Map<string, DisabledKey>> {
    const known = this.last;
    try {
      const res = await this.call('GetObject', () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key, IfNoneMatch: known?.etag })));
      const keys = parseApiKeyRecord(res.Body ? await res.Body.transformToString('utf8') : '');
      this.last = res.ETag ? { etag: res.ETag, keys } : undefined;
      return new Map(keys);
    } catch (err) {
      if (err instanceof ApiKeyRecordFormatError) {
        throw new AwsRejectedError(`${err.message} (s3://${this.bucket}/${this.key}): fix or remove it`, 's3', 'GetObject',
          { bucket: this.bucket, key: this.key }, { cause: err });
      }
      const status = httpStatus(err);
      if (status === 304 && known) return new Map(known.keys);
      if (status === 404 && awsErrorName(err) !== 'NoSuchBucket') {
        this.last = undefined;
        return new Map();
      }
      throw this.wrap(err, 'GetObject');
    }
  }

  async write(keys: ReadonlyMap<string, DisabledKey>): Promise<void> {
    const res = await this.call('PutObject', () => this.client.send(new PutObjectCommand({
      Bucket: this.bucket, Key: this.key, Body: renderApiKeyRecord(keys, this.clock()), ContentType: 'application/json',
    }))).catch((err: unknown) => { throw this.wrap(err, 'PutObject'); });
    this.last = res.ETag ? { etag: res.ETag, keys: new Map(keys) } : undefined;
  }

  private call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    return withRetries({ service: 's3', operation, context: { bucket: this.bucket, key: this.key } }, fn,
      (err) => isThrottling(err) || isTransient(err), this.backoff);
  }

  private wrap(err: unknown, operation: string): unknown {
    if (err instanceof AwsAdapterError) return err;
    const name = awsErrorName(err) || 'Error';
    const status = httpStatus(err);
    const context = { bucket: this.bucket, key: this.key, error: name, status };
    const E = status === 403 || status === 400 || name === 'NoSuchBucket' ? AwsRejectedError : AwsUnavailableError;
    return new E(`S3 ${operation} failed (${name}) on ${this.bucket}/${this.key}`, 's3', operation, context, { cause: err });
  }
}

export interface ApiGatewayApiKeyAdapterOptions {
  record: DisabledKeyRecord;
  /**
   * Spaces this adapter's API Gateway calls (GetApiKey, UpdateApiKey). Neither has a quota of its own: they share the
   * account's control-plane total of 10 requests per second, burst 40 (API Gateway quotas page, fixed), with the
   * console, deployment pipelines and cordon's policy adapter. Default one call per 200 ms: half of that total.
   */
  pacer?: WritePacer;
  /** Epoch ms. Default Date.now. */
  clock?: () => number;
  /** How long a principal found to be no key is not asked about again. Default one hour. */
  notKeyTtlMs?: number;
  /** Behind the SDK's own retries: throttling (429) and 5xx that outlast them. */
  backoff?: Partial<BackoffOptions>;
}

interface KeyState {
  enabled: boolean;
  /** lastUpdatedDate, epoch ms (0 when API Gateway gives none). */
  updatedAt: number;
}

/**
 * {@link ApiKeyPort} on API Gateway (REST API keys of the client's account and region).
 *
 * apply(blocked principals):
 * 1. Reads cordon's record of the keys it disabled ({@link DisabledKeyRecord}).
 * 2. Each blocked principal shaped like a key id ({@link API_KEY_ID_SHAPE}; nothing else costs a call) is looked up
 *    with GetApiKey, once per run; NotFound means no key (the usual case) and is remembered for {@link notKeyTtlMs}.
 *    - Enabled: recorded first (the intent, so a crash right after the update still leaves cordon able to re-enable
 *      it), then UpdateApiKey `replace /enabled false`, then recorded again with the key's new lastUpdatedDate.
 *    - Disabled already, and not in the record: someone else disabled it. Left alone, never re-enabled; it is held.
 *    - A recorded key found enabled while still blocked (its owner turned it back on) is disabled again.
 * 3. Each recorded key no longer blocked: re-enabled if it is still disabled and nobody changed it after cordon did
 *    (its lastUpdatedDate is the one cordon's update left); if someone did, or cordon never learnt that its update
 *    applied (an intent without `updatedAt`: the key may be one its owner revoked), it is left disabled (their change
 *    wins) and reported in `skipped`. Either way, and for a deleted key, it leaves the record.
 *
 * Errors: throttling and 5xx are retried (the SDK's retries, then {@link withRetries}); what remains is thrown, an
 * {@link AwsAdapterError} or the SDK's error with its HTTP status: contain reports it as a failure of the `api-keys`
 * target. A refused update takes its intent out of the record again (the key is still enabled, so not cordon's to
 * re-enable); an update whose outcome is unknown (5xx, timeout) keeps it, and the next run sees which it was.
 */
export class ApiGatewayApiKeyAdapter implements ApiKeyPort {
  private readonly record: DisabledKeyRecord;
  private readonly pacer: WritePacer;
  private readonly clock: () => number;
  private readonly notKeyTtlMs: number;
  private readonly backoff: BackoffOptions;
  /** Principals found to be no key, until when (epoch ms). */
  private readonly notKeys = new Map<string, number>();
  /** API Gateway calls made, per operation. */
  readonly calls: Record<string, number> = {};

  constructor(private readonly client: APIGatewayClient, opts: ApiGatewayApiKeyAdapterOptions) {
    this.record = opts.record;
    this.pacer = opts.pacer ?? new WritePacer(200);
    this.clock = opts.clock ?? Date.now;
    this.notKeyTtlMs = opts.notKeyTtlMs ?? 3_600_000;
    this.backoff = { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 5_000, ...opts.backoff };
  }

  async apply(desired: string[]): Promise<ApiKeyApplyResult> {
    const result: ApiKeyApplyResult = { disabled: [], enabled: [], held: [], skipped: [], notKeys: 0 };
    const stored = await this.record.read();
    const record = new Map(stored);
    let dirty = false;
    const save = async () => {
      if (!dirty) return;
      await this.record.write(record);
      dirty = false;
    };
    const now = this.clock();
    for (const [id, until] of this.notKeys) if (until <= now) this.notKeys.delete(id);
    const blocked = new Set(desired.filter((d) => API_KEY_ID_SHAPE.test(d)));

    const toDisable: string[] = [];
    for (const id of [...blocked].sort()) {
      if (this.notKeys.has(id)) {
        result.notKeys++;
        continue;
      }
      const key = await this.getKey(id);
      if (!key) {
        this.notKeys.set(id, now + this.notKeyTtlMs);
        result.notKeys++;
        // A key cordon disabled that was deleted since: nothing left to re-enable.
        if (record.delete(id)) dirty = true;
        continue;
      }
      if (!key.enabled) {
        result.held.push(id);
        if (!record.has(id)) result.skipped.push({ key: id, why: 'disabled by someone else: left alone, never re-enabled by cordon' });
        continue;
      }
      toDisable.push(id);
    }
    // The intent first, for all of them at once (see the class comment).
    const fresh = new Set(toDisable.filter((id) => !record.has(id)));
    for (const id of fresh) record.set(id, { since: new Date(now).toISOString() });
    if (fresh.size > 0) dirty = true;
    await save();
    for (const id of toDisable) {
      let updatedAt: number;
      try {
        updatedAt = await this.setEnabled(id, false);
      } catch (err) {
        // Refused: the key is still enabled and was not cordon's to re-enable. The ones disabled before it are kept.
        if (fresh.has(id) && refused(err)) record.delete(id);
        for (const later of toDisable.slice(toDisable.indexOf(id) + 1)) if (fresh.has(later)) record.delete(later);
        dirty = true;
        await save().catch(() => {});
        throw err;
      }
      record.set(id, { since: record.get(id)!.since, updatedAt });
      dirty = true;
      result.disabled.push(id);
      result.held.push(id);
    }
    await save();

    for (const [id, mark] of [...stored].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (blocked.has(id)) continue;
      const key = await this.getKey(id);
      if (key && !key.enabled) {
        if (mark.updatedAt === undefined) {
          // Cordon's update never answered: it may not have applied, and the owner may have revoked the key since.
          // Only a disable cordon knows it made is undone.
          result.skipped.push({ key: id, why: "cordon's own update of it never answered, so it may have been disabled by someone else: left disabled" });
        } else if (key.updatedAt > mark.updatedAt) {
          // Someone changed the key after cordon disabled it (perhaps disabling it themselves): theirs to turn back on.
          result.skipped.push({ key: id, why: 'changed by someone else while cordon had it disabled: left disabled' });
        } else {
          await this.setEnabled(id, true);
          result.enabled.push(id);
        }
      }
      record.delete(id);
      dirty = true;
    }
    // Cut short by an error, the next run finds those keys enabled and drops them then.
    await save();
    result.held.sort();
    return result;
  }

  /** The key's state, or undefined when there is no such key. */
  private async getKey(id: string): Promise<KeyState | undefined> {
    try {
      const k = await this.call('GetApiKey', () => this.client.send(new GetApiKeyCommand({ apiKey: id, includeValue: false })));
      return { enabled: k.enabled === true, updatedAt: k.lastUpdatedDate?.getTime() ?? 0 };
    } catch (err) {
      if (awsErrorName(err) === 'NotFoundException') return undefined;
      throw err;
    }
  }

  /** UpdateApiKey `replace /enabled`; returns the key's lastUpdatedDate after it (epoch ms). */
  private async setEnabled(id: string, enabled: boolean): Promise<number> {
    const k = await this.call('UpdateApiKey', () => this.client.send(new UpdateApiKeyCommand({
      apiKey: id, patchOperations: [{ op: 'replace', path: '/enabled', value: String(enabled) }],
    })));
    return k.lastUpdatedDate?.getTime() ?? 0;
  }

  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    return withRetries({ service: 'apigateway', operation }, async () => {
      await this.pacer.wait();
      this.calls[operation] = (this.calls[operation] ?? 0) + 1;
      return fn();
    }, (err) => isThrottling(err) || isTransient(err), this.backoff);
  }
}

/** AWS answered and refused (4xx other than throttling): the write did not happen. */
function refused(err: unknown): boolean {
  const status = httpStatus(err instanceof AwsAdapterError ? err.cause : err);
  return status !== undefined && status >= 400 && status < 500 && status !== 429;
}
