/**
 * How long ingest's event source mapping gathers access-log records before an invocation: the construct prop
 * `ingestBatchingWindowSeconds`, `cordon rehearse --ingest-batching-window`. One constant, so the construct, rehearse
 * and detect agree on the default.
 */
export const DEFAULT_INGEST_BATCHING_WINDOW_SECONDS = 2;
export const MAX_INGEST_BATCHING_WINDOW_SECONDS = 30;

/** A window the construct accepts: whole seconds from 1 to the maximum (rehearse and the bench refuse what it would). */
export function isIngestBatchingWindow(seconds: number): boolean {
  return Number.isInteger(seconds) && seconds >= 1 && seconds <= MAX_INGEST_BATCHING_WINDOW_SECONDS;
}

/**
 * What detect waits for on top of its configured lateness and delivery delay when ingest batches longer than the
 * default: each access-log shard's ingest holds its lines that much longer, while another shard's batch may already
 * have moved the watermark. `windows.stageLatenessSeconds` and `maxDeliveryDelaySeconds` are tuned for the default.
 */
export function batchingExtraMs(ingestBatchingWindowSeconds: number | undefined): number {
  return Math.max(0, (ingestBatchingWindowSeconds ?? DEFAULT_INGEST_BATCHING_WINDOW_SECONDS) - DEFAULT_INGEST_BATCHING_WINDOW_SECONDS) * 1000;
}
