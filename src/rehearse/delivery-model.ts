import { makeSampler, rngFor, type Bounds, type DelaySpec, type Sampler } from './distributions.ts';
import type { Rng } from '../simulate/rng.ts';

/**
 * How long AWS takes between the steps of cordon's pipeline, as seeded samplers. Every figure says where it comes
 * from. Where AWS documents a number it is used; where AWS documents only a range or nothing, the figure is an
 * observed one from a public source or, failing that, an assumption, and says so; in both cases the slower
 * reading is taken, so that a time to contain that `rehearse` reports is not the best case.
 *
 * Structural behaviour that is documented (Kinesis polled once a second per shard, DynamoDB streams four times a
 * second, the batching windows, Lambda CPU in proportion to memory, the WAF write quota) is modelled where it
 * happens (event-source-mapping.ts, lambda-model.ts) from the constants at the end of this file, not drawn.
 */

export interface DelayDefinition {
  spec: DelaySpec & Bounds;
  /** Where the figure comes from, and how much of it is documented. */
  source: string;
}

export const DELAYS = {
  /**
   * Request → its access-log line ingested by CloudWatch Logs, per API Gateway log-stream flush (every line of a
   * flush shares it; log-delivery.ts adds the wait for the flush itself).
   * AWS documents no figure. Observed: CloudWatch Logs ingestion lags "several seconds" behind the event time for
   * service-written logs (S. Shuichi, "Visualize CloudWatch Logs ingestion lag with Logs Insights", dev.to, 2023);
   * notes/aws-facts.md: "typically takes seconds but can lag a minute or more". Slow reading: median 5 s, p95 20 s,
   * and 2 % of flushes 1–3 minutes late; at most 5 minutes.
   */
  apigwToCloudWatchLogs: {
    spec: { kind: 'lognormal', medianMs: 5_000, p95Ms: 20_000, tail: { probability: 0.02, minMs: 60_000, maxMs: 180_000 }, minMs: 200, maxMs: 300_000 },
    source:
      'observed, not documented: CWL ingestion lag of several seconds (dev.to/shu85t, 2023); "can lag a minute or more" (notes/aws-facts.md)',
  },
  /**
   * CloudWatch Logs ingestion → the subscription's Kinesis PutRecord accepted.
   * Documented bound: "Log events are sent to the receiving resource soon after being ingested, usually less than
   * three minutes" (CloudWatch Logs User Guide, "Real-time processing of log data with subscriptions"). Typical
   * delivery is described as seconds. Slow reading: median 3 s, p95 30 s, 1 % of records 1–4 minutes late (so a
   * little over 99.7 % arrive within the documented three minutes); at most 5 minutes.
   */
  subscriptionToKinesis: {
    spec: { kind: 'lognormal', medianMs: 3_000, p95Ms: 30_000, tail: { probability: 0.01, minMs: 60_000, maxMs: 240_000 }, minMs: 100, maxMs: 300_000 },
    source: 'documented bound "usually less than three minutes" (CWL User Guide, Subscriptions); typical seconds',
  },
  /**
   * One GetRecords call by the event source mapping (the once-a-second poll itself is structural).
   * Kinesis documents that polling once a second gives "average propagation delays that are typically below
   * 1 second" (Kinesis Data Streams Developer Guide, low-latency processing) and that records "are available to be
   * read immediately after they are written"; the call's own latency is an assumption: median 30 ms, p95 150 ms.
   */
  getRecords: {
    spec: { kind: 'lognormal', medianMs: 30, p95Ms: 150, maxMs: 5_000 },
    source: 'assumption within the documented "propagation typically below 1 second" at 1 poll/s (Kinesis Developer Guide)',
  },
  /** A PutRecords call by a stage (ingest → summaries); assumption: median 30 ms, p95 120 ms. */
  kinesisPut: {
    spec: { kind: 'lognormal', medianMs: 30, p95Ms: 120, maxMs: 5_000 },
    source: 'assumption (no public figure found); records are readable as soon as the put returns (Kinesis Developer Guide)',
  },
  /**
   * The event source mapping's invoke path, on top of the function's own duration (warm). AWS documents none;
   * assumption: median 20 ms, p95 100 ms. Negligible next to the second-scale delays around it.
   */
  invokeOverhead: {
    spec: { kind: 'lognormal', medianMs: 20, p95Ms: 100, maxMs: 2_000 },
    source: 'assumption (no public figure found)',
  },
  /**
   * A cold start's init duration, Node.js. Documented: cold starts take "from under 100 ms to over 1 second"
   * (AWS Lambda Developer Guide / Operating Lambda, "cold starts and latency"). Observed for nodejs20.x, 256 MB,
   * us-east-1 (adriantanasa, "Lambda Cold Starts Benchmark", gist, Nov 2023): average init 240–370 ms and p90
   * 580–700 ms for 1–4 MB packages, 700 ms / 1 s for 16 MB. cordon's bundles carry AWS SDK v3 clients and their own
   * initialisation: median 500 ms, p95 1.5 s.
   */
  coldStart: {
    spec: { kind: 'lognormal', medianMs: 500, p95Ms: 1_500, minMs: 80, maxMs: 10_000 },
    source: 'documented range "under 100 ms to over 1 second" (Lambda docs); observed nodejs20.x init p90 0.6–1 s (adriantanasa gist, 2023)',
  },
  /**
   * A WAF IP set change taking effect everywhere the web ACL is used. Documented only as a range: "The
   * propagation time can be from a few seconds to a number of minutes" (AWS WAF Developer Guide, "Temporary
   * inconsistencies during updates"); no public measurement found. The lognormal spans that range: 5th
   * percentile 4 s ("a few seconds"), 95th 150 s ("a number of minutes"), hence median 24.5 s; at most 10 min.
   * The guide's earlier wording ("Eventual consistency": "generally, any inconsistencies of this type last only a
   * few seconds") puts the typical change well under that median: this is the slow reading, kept on purpose.
   */
  wafPropagation: {
    spec: { kind: 'lognormal', medianMs: 24_500, p95Ms: 150_000, minMs: 1_000, maxMs: 600_000 },
    source: 'documented range only, "a few seconds to a number of minutes" (WAF Developer Guide); spread over it, slow end',
  },
  /** One UpdateIPSet (with its GetIPSet) round trip; assumption: median 150 ms, p95 600 ms. */
  wafWriteLatency: {
    spec: { kind: 'lognormal', medianMs: 150, p95Ms: 600, maxMs: 10_000 },
    source: 'assumption (no public figure found)',
  },
  /**
   * A REST API stage redeploy (CreateDeployment) taking effect after a resource-policy change. AWS documents that
   * the change needs a redeploy but not how long one takes to propagate; assumption: median 10 s, p95 60 s.
   */
  redeployPropagation: {
    spec: { kind: 'lognormal', medianMs: 10_000, p95Ms: 60_000, minMs: 1_000, maxMs: 600_000 },
    source: 'assumption: AWS documents the redeploy, not its propagation time (API Gateway Developer Guide)',
  },
  /**
   * A DynamoDB write (the ledger) → its stream record readable. AWS describes streams as "near-real time" without
   * a figure; assumption: median 500 ms, p95 2 s.
   */
  dynamoStreamVisibility: {
    spec: { kind: 'lognormal', medianMs: 500, p95Ms: 2_000, maxMs: 60_000 },
    source: 'assumption: "near-real time" (DynamoDB Developer Guide), no figure',
  },
  /**
   * Per-firing jitter of an EventBridge scheduled rule, on top of its fixed offset within the minute
   * (SCHEDULE_FACTS). Documented: "the minimum precision for a schedule is one minute. Your scheduled rule runs
   * within that minute, but not on the precise 0th second" (EventBridge User Guide). Observed (Trek10, "LambdaClock",
   * 2016, 4,700 events): per-rule delays consistent from under 10 s to over 40 s, average 25 s; the offset carries
   * that, the jitter is an assumption: median 1 s, p95 5 s.
   */
  scheduleJitter: {
    spec: { kind: 'lognormal', medianMs: 1_000, p95Ms: 5_000, maxMs: 30_000 },
    source: 'documented one-minute precision (EventBridge User Guide); per-rule offsets observed 10–40 s (Trek10, 2016)',
  },
} as const satisfies Record<string, DelayDefinition>;

export type DelayName = keyof typeof DELAYS;

/** Lambda behaviour that is not a delay distribution. */
export const LAMBDA_FACTS = {
  /**
   * "At 1,769 MB, a function has the equivalent of one vCPU" and CPU is allocated in proportion to memory (Lambda
   * Developer Guide, "Configure Lambda function memory"). A stage's measured CPU time is scaled by
   * max(1, 1769 / memory).
   */
  memoryMbPerVcpu: 1_769,
  /**
   * An idle execution environment is reclaimed after this long. Not documented; observed "the lifetime of an idle
   * instance is between 5 and 7 minutes" (M. Shilkov, "When Does Cold Start Happen on AWS Lambda?", mikhail.io);
   * other reports say up to 45–60 min. The short end (more cold starts).
   */
  idleReclaimMs: 5 * 60_000,
  /**
   * Chance that a warm environment is recycled anyway before an invocation. AWS: cold starts "typically occur in
   * under 1% of invocations" (Lambda docs, cold starts and latency); we take 1 % on top of the structural ones
   * (first use, idle reclaim, scale-out).
   */
  recycleProbability: 0.01,
  /** "Lambda polls each shard in your Kinesis stream for records at a base rate of once per second" (Lambda docs). */
  kinesisPollIntervalMs: 1_000,
  /** "Lambda polls shards in your DynamoDB stream for records at a base rate of 4 times per second" (Lambda docs). */
  dynamoPollIntervalMs: 250,
  /** Synchronous invocation payload limit, which also closes a batch (Lambda quotas: 6 MB). */
  maxPayloadBytes: 6 * 1024 * 1024,
  /** GetRecords returns at most 10,000 records per call (Kinesis API reference). */
  getRecordsLimit: 10_000,
} as const;

/** EventBridge scheduled rules. */
export const SCHEDULE_FACTS = {
  /** A rate(1 minute) rule fires once a minute at a fixed, rule-specific offset within the minute (drawn uniformly). */
  offsetWithinMinute: { kind: 'uniform', minMs: 0, maxMs: 60_000 } as DelaySpec,
} as const;

/** AWS write quotas that pace the contain stage (notes/aws-facts.md, from the WAF and API Gateway quota pages). */
export const QUOTAS = {
  /** Any WAFv2 Create/Put/Update: 1 request per second per account and Region. */
  wafWriteIntervalMs: 1_000,
  /** CreateDeployment: about one call every 5 s per account. */
  createDeploymentIntervalMs: 5_000,
} as const;

export interface DeliveryModelOptions {
  /** Replace a distribution (e.g. a faster WAF for a what-if). */
  overrides?: Partial<Record<DelayName, DelaySpec & Bounds>>;
  /** `--lagging-shard SECONDS`: this many extra ms before one shard's records reach its consumer. */
  laggingShardMs?: number;
  /** Which shard lags (default: the first one the consumer sees, in shard-id order). */
  laggingShardId?: string;
}

/**
 * The seeded delay model of one rehearsal. `sampler(name)` returns that distribution's sampler (one PRNG stream per
 * name, so draws of one never shift another's); `rng(name)` a PRNG for any other seeded choice.
 */
export class DeliveryModel {
  readonly seed: number;
  readonly laggingShardMs: number;
  readonly laggingShardId: string | undefined;
  private readonly samplers = new Map<string, Sampler>();
  private readonly overrides: Partial<Record<DelayName, DelaySpec & Bounds>>;

  constructor(seed: number, opts: DeliveryModelOptions = {}) {
    this.seed = seed;
    this.overrides = opts.overrides ?? {};
    this.laggingShardMs = Math.max(0, opts.laggingShardMs ?? 0);
    this.laggingShardId = opts.laggingShardId;
  }

  spec(name: DelayName): DelaySpec & Bounds {
    return this.overrides[name] ?? DELAYS[name].spec;
  }

  isOverridden(name: DelayName): boolean {
    return this.overrides[name] !== undefined;
  }

  sampler(name: DelayName): Sampler {
    let s = this.samplers.get(name);
    if (!s) {
      s = makeSampler(name, this.spec(name), rngFor(this.seed, `delay:${name}`));
      this.samplers.set(name, s);
    }
    return s;
  }

  /** One draw (ms) from the named distribution. */
  sample(name: DelayName): number {
    return this.sampler(name).sample();
  }

  /** A PRNG stream for `purpose` under this run's seed (independent of the delay samplers). */
  rng(purpose: string): Rng {
    return rngFor(this.seed, `rng:${purpose}`);
  }

  /**
   * The extra delay of `shardId` given every shard id of its stream: `laggingShardMs` for the lagging shard (the
   * named one, else the first in sorted order), 0 for the others.
   */
  shardLagMs(shardId: string, allShardIds: readonly string[]): number {
    if (this.laggingShardMs === 0) return 0;
    const lagging = this.laggingShardId ?? [...allShardIds].sort()[0];
    return shardId === lagging ? this.laggingShardMs : 0;
  }
}

/** Every delay with its source, for the rehearsal report ("where each comes from"). */
export function describeDelays(model?: DeliveryModel): { name: DelayName; spec: DelaySpec & Bounds; source: string }[] {
  return (Object.keys(DELAYS) as DelayName[]).map((name) => ({
    name,
    spec: model ? model.spec(name) : DELAYS[name].spec,
    source: model?.isOverridden(name) ? 'override (this run)' : DELAYS[name].source,
  }));
}
