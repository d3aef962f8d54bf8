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
 * Dimension names that become CloudWatch dimensions (with `service`): `action` of `Decisions`, `target` of
 * `TargetFailures`. Their values come from small fixed sets, and the dashboard names them. Any other name a stage
 * passes (`partition` of `WatermarkLagMs`) is written as a property of the EMF line instead: searchable in Logs
 * Insights, but not a dimension, because its values are unbounded (every shard ever seen, each a billed metric) and
 * an alarm cannot take the maximum across dimension values; the metric stays one series per service.
 */
export const CLOUDWATCH_DIMENSIONS: readonly string[] = ['action', 'target'];

/**
 * Powertools Metrics for one function: namespace `Cordon`, dimension `service` = the function's service name.
 * Metrics are written as CloudWatch embedded metric format (EMF) lines on stdout (no API call, no IAM).
 *
 * A metric added with a dimension (`Decisions` with `action`) cannot share an EMF line with the others: CloudWatch
 * reads each value at the top level of the line, under its metric name, for every dimension set of the line.
 * Powertools' answer is a separate metric with that dimension (`singleMetric()`, which writes one line per value).
 * Here each distinct set of dimensions and properties gets its own buffered Powertools instance instead, flushed
 * with this one, so a batch of 500 decisions is a few lines rather than 500.
 *
 * The handler flushes once per invocation: `metrics.publishStoredMetrics()` in a `finally` after the stage ran
 * (also when it throws). Chosen over the `logMetrics` middleware and decorator because the handlers are plain
 * functions without middy or a class. The instance lives at module scope, so anything not flushed would be
 * written with the next invocation's metrics.
 */
export class CordonMetrics extends PowertoolsMetrics {
  readonly #serviceName: string;
  readonly #logger?: GenericLogger;
  /** One buffered instance per set of dimensions and properties, keyed by its sorted `name=value` pairs. */
  readonly #byFields = new Map<string, PowertoolsMetrics>();

  constructor(serviceName: string, logger?: GenericLogger) {
    super({ namespace: METRICS_NAMESPACE, serviceName, ...(logger ? { logger } : {}) });
    this.#serviceName = serviceName;
    this.#logger = logger;
  }

  /**
   * Adds a value on a line of its own set of `fields`: those named in {@link CLOUDWATCH_DIMENSIONS} are dimensions
   * (besides `service`), the others properties of the line.
   */
  addMetricWith(name: string, unit: PowertoolsUnit, value: number, fields: Record<string, string>): this {
    const entries = Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const key = JSON.stringify(entries);
    let child = this.#byFields.get(key);
    if (!child) {
      child = new PowertoolsMetrics({
        namespace: METRICS_NAMESPACE,
        serviceName: this.#serviceName,
        defaultDimensions: Object.fromEntries(entries.filter(([k]) => CLOUDWATCH_DIMENSIONS.includes(k))),
        ...(this.#logger ? { logger: this.#logger } : {}),
      });
      this.#byFields.set(key, child);
    }
    // Again before every value: Powertools clears metadata whenever it flushes (also when a buffer fills up).
    for (const [k, v] of entries) if (!CLOUDWATCH_DIMENSIONS.includes(k)) child.addMetadata(k, v);
    child.addMetric(name, unit, value);
    return this;
  }

  /** Writes every buffered metric (each set of fields on its own line, then the rest) and clears the buffers. */
  override publishStoredMetrics(): this {
    let published = false;
    for (const child of this.#byFields.values()) {
      if (!child.hasStoredMetrics()) continue;
      child.publishStoredMetrics();
      published = true;
    }
    // Partitions come and go: keep no instance beyond the invocation.
    this.#byFields.clear();
    if (published && !this.hasStoredMetrics()) {
      // Nothing without fields this time: skip Powertools' "No application metrics to publish" warning.
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
 * largest for `Maximum`, and each is one sample for percentiles). `dimensions` named in {@link CLOUDWATCH_DIMENSIONS}
 * are CloudWatch dimensions, any other is a property of the line. A value that is not a finite number is skipped: a
 * metric never fails a stage.
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
      if (dimensions && Object.keys(dimensions).length > 0) metrics.addMetricWith(name, UNITS[unit], value, dimensions);
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
