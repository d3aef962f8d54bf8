/**
 * One request as every decoder hands it to the engine. Missing strings are '' and missing numbers -1,
 * so every event has the same shape (monomorphic objects keep the hot path fast).
 */
export interface AccessEvent {
  /** Event time, epoch ms (the request time, not the delivery time). */
  time: number;
  /** Client address, normalised: `::ffff:a.b.c.d` becomes IPv4, IPv6 is compressed lower-case. */
  ip: string;
  method: string;
  /** The requested path as the client sent it (attacker-controlled). */
  path: string;
  /** The API's resource template (`/items/{id}`) where the format has one, else ''. */
  resource: string;
  status: number;
  /** Response bytes; 0 when the log says `-`. */
  bytes: number;
  /** Response latency in ms, -1 when unknown. */
  latencyMs: number;
  /** '' when the format has none (attacker-controlled). */
  userAgent: string;
  /** The authenticated principal (userArn, then principalId, then apiKeyId, then caller), '' when anonymous. */
  principal: string;
}

/** Why a record could not be read: counted, a few kept as samples for the operator, never thrown. */
export interface Unreadable {
  reason: string;
  /** A short, sanitised excerpt of the offending input (control characters replaced, truncated). */
  excerpt: string;
  /** 1-based line number in its file, or 0 where there is none (Kinesis records). */
  line: number;
  source: string;
}
