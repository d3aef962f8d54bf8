import { Metrics as PowertoolsMetrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricsOptions, MetricUnit as PowertoolsUnit } from '@aws-lambda-powertools/metrics/types';
import { METRIC, type MetricName, type MetricUnit as StageMetricUnit, type Metrics } from '../src/engine/observe.ts';
import type { IpSetPort } from '../src/ports.ts';

/** Namespace of every cordon metric; the alarms and the dashboard (infra/observability.ts) read it from here. */
export const METRICS_NAMESPACE = 'Cordon';

/** What Powertools writes its own warnings to (the function's Powertools Logger fits). */
type GenericLogger = NonNullable<MetricsOptions['logger']>;

const UNITS: Record<StageMetricUnit, PowertoolsUnit> = {
  Count: MetricUnit.Count,
  Milliseconds: MetricUnit.Milliseconds,
  Bytes: MetricUnit.Bytes,
};

/**
 * Powertools Metrics for one function: namespace `Cordon`, dimension `service` = the function's service name.
 * Metrics are written as CloudWatch embedded metric format (EMF) lines on stdout (no API call, no IAM).
 *
 * A metric added with a dimension (`Decisions` with `action`, `TargetFailures` with `target`) cannot share an EMF
 * line with the others: CloudWatch reads each value at the top level of the line, under its metric name, for every
 * dimension set of the line. Powertools' answer is a separate metric with that dimension (`singleMetric()`, which
 * writes one line per value). Here each distinct dimension set gets its own buffered Powertools instance instead,
 * flushed with this one, so a batch of 500 decisions is a few lines rather than 500. Dimension values must come from
 * a small fixed set (actions, target kinds): every distinct value is a billed CloudWatch metric.
 *
 * The handler flushes once per invocation: `metrics.publishStoredMetrics()` in a `finally` after the stage ran
 * (also when it throws). Chosen over the `logMetrics` middleware and decorator because the handlers are plain
 * functions without middy or a class. The instance lives at module scope, so anything not flushed would be
 * written with the next invocation's metrics.
 */
export class CordonMetrics extends PowertoolsMetrics {
  readonly #serviceName: string;
  readonly #logger?: GenericLogger;
  /** One buffered instance per dimension set, keyed by its sorted `name=value` pairs. */
  readonly #byDimensions = new Map<string, PowertoolsMetrics>();

  constructor(serviceName: string, logger?: GenericLogger) {
    super({ namespace: METRICS_NAMESPACE, serviceName, ...(logger ? { logger } : {}) });
    this.#serviceName = serviceName;
    this.#logger = logger;
  }

  /** Adds a value to the buffer of its dimension set (namespace and `service` as here, plus `dimensions`). */
  addDimensionedMetric(name: string, unit: PowertoolsUnit, value: number, dimensions: Record<string, string>): this {
    const key = Object.entries(dimensions)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
    let child = this.#byDimensions.get(key);
    if (!child) {
      child = new PowertoolsMetrics({
        namespace: METRICS_NAMESPACE,
        serviceName: this.#serviceName,
        defaultDimensions: dimensions,
        ...(this.#logger ? { logger: this.#logger } : {}),
      });
      this.#byDimensions.set(key, child);
    }
    child.addMetric(name, unit, value);
    return this;
  }

  /** Writes every buffered metric (each dimension set on its own line, then the rest) and clears the buffers. */
  override publishStoredMetrics(): this {
    let published = false;
    for (const child of this.#byDimensions.values()) {
      if (!child.hasStoredMetrics()) continue;
      child.publishStoredMetrics();
      published = true;
    }
    if (published && !this.hasStoredMetrics()) {
      // Nothing without a dimension this time: skip Powertools' "No application metrics to publish" warning.
      this.clearDimensions();
      this.clearMetadata();
      return this;
    }
    return super.publishStoredMetrics();
  }
}

/**
 * The metrics of one function: the Powertools instance the handler flushes (see {@link CordonMetrics}) and the
 * same instance in the shape the stages take (`src/engine/observe.ts`).
 *
 * `port.add(name, value, unit = 'Count', dimensions?)` adds one value (CloudWatch sums them for `Sum`, takes the
 * largest for `Maximum`, and each is one sample for percentiles). A value that is not a finite number is skipped:
 * a metric never fails a stage.
 *
 * @param serviceName the `service` dimension, which the alarms name: `cordon-ingest`, `cordon-detect`,
 *   `cordon-contain` (what infra/cordon-function.ts sets as POWERTOOLS_SERVICE_NAME).
 * @param logger where Powertools writes its own warnings (give the function's Powertools Logger); default stdout.
 */
export function createMetrics(serviceName: string, logger?: GenericLogger): { metrics: CordonMetrics; port: Metrics } {
  const metrics = new CordonMetrics(serviceName, logger);
  const port: Metrics = {
    add(name: MetricName, value: number, unit: StageMetricUnit = 'Count', dimensions?: Record<string, string>): void {
      if (!Number.isFinite(value)) return;
      if (dimensions && Object.keys(dimensions).length > 0) metrics.addDimensionedMetric(name, UNITS[unit], value, dimensions);
      else metrics.addMetric(name, UNITS[unit], value);
    },
  };
  return { metrics, port };
}

/**
 * The IP set port with every failed write counted as `WafWriteFailures` (whatever the error: throttling past the
 * retries, lock contention, a rejected address, missing permissions). The error still propagates. The contain
 * function's alarm watches `Cordon` / `WafWriteFailures` / `service=cordon-contain`.
 */
export function withWafWriteFailureMetric(port: IpSetPort, metrics: Metrics): IpSetPort {
  return {
    read: () => port.read(),
    apply: async (desired) => {
      try {
        return await port.apply(desired);
      } catch (err) {
        metrics.add(METRIC.WafWriteFailures, 1, 'Count');
        throw err;
      }
    },
  };
}
