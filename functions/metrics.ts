import type { IpSetPort } from '../src/ports.ts';

/**
 * CloudWatch embedded metric format (EMF): one JSON line on stdout becomes a metric, no API call and no IAM.
 * Written to `process.stdout` directly, because Lambda's patched `console` prefixes each line and EMF lines must be
 * bare JSON. The construct alarms on namespace `Cordon`, metric `WafWriteFailures`, no dimensions.
 */
export function emfLine(namespace: string, metrics: Record<string, number>, timestamp = Date.now()): string {
  return JSON.stringify({
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        { Namespace: namespace, Dimensions: [[]], Metrics: Object.keys(metrics).map((Name) => ({ Name, Unit: 'Count' })) },
      ],
    },
    ...metrics,
  });
}

export function emitMetrics(namespace: string, metrics: Record<string, number>): void {
  process.stdout.write(emfLine(namespace, metrics) + '\n');
}

/**
 * The IP set port with every failed write counted as `Cordon/WafWriteFailures` (whatever the error: throttling past
 * the retries, lock contention, a rejected address, missing permissions). The error still propagates.
 */
export function withWafWriteFailureMetric(port: IpSetPort, emit: typeof emitMetrics = emitMetrics): IpSetPort {
  return {
    read: () => port.read(),
    apply: async (desired) => {
      try {
        return await port.apply(desired);
      } catch (err) {
        emit('Cordon', { WafWriteFailures: 1 });
        throw err;
      }
    },
  };
}
