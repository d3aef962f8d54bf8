import { Readable } from 'node:stream';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { HttpHandlerOptions } from '@smithy/types';

/**
 * A request handler for real SDK clients that sits in front of the emulator and can answer a request itself with
 * an AWS-shaped response, or rewrite what goes to the emulator and what comes back. The SDK's own retry, error
 * parsing and middleware all run: this is how faults the emulators never produce (throttling, partial batch
 * failures) are injected while the data really lands in moto.
 */

// Structural shapes of @smithy/protocol-http's HttpRequest/HttpResponse (what NodeHttpHandler reads and returns).
export interface WireRequest {
  protocol: string;
  hostname: string;
  port?: number;
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}
export interface WireResponse {
  statusCode: number;
  reason?: string;
  headers: Record<string, string>;
  body?: unknown;
}

/** What a fault rule can do with a request: answer it, or pass it on (optionally rewritten) and edit the reply. */
export type FaultAction =
  | { respond: { status: number; headers?: Record<string, string>; json: unknown } }
  | { forward: { body?: string; editResponse?: (json: unknown) => unknown } }
  | undefined;

export type FaultRule = (req: { operation: string; json: unknown; raw: WireRequest }) => FaultAction;

/** The JSON-protocol operation name from `X-Amz-Target` (e.g. `DynamoDB_20120810.PutItem` → `PutItem`). */
function operationOf(req: WireRequest): string {
  const target = Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'x-amz-target')?.[1] ?? '';
  return target.slice(target.indexOf('.') + 1);
}

async function readAll(body: unknown): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Buffer | string>) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
}

function bodyText(body: unknown): string {
  if (typeof body === 'string') return body;
  // The SDK's JSON body is a Uint8Array subclass whose valueOf() is a string: read its bytes, not valueOf().
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  return '';
}

export function jsonResponse(status: number, json: unknown, headers: Record<string, string> = {}): WireResponse {
  const buf = Buffer.from(JSON.stringify(json));
  return {
    statusCode: status,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'content-length': String(buf.length), ...headers },
    body: Readable.from([buf]),
  };
}

/** `{__type, message}` as AWS JSON protocols return errors. */
export function awsJsonError(type: string, message = type): unknown {
  return { __type: type, message };
}

export class FaultInjectingHandler {
  readonly inner = new NodeHttpHandler();
  /** Operations seen, in order (including injected ones). */
  readonly seen: string[] = [];
  metadata = { handlerProtocol: 'http/1.1' };

  constructor(private readonly rule: FaultRule) {}

  async handle(request: WireRequest, options?: HttpHandlerOptions): Promise<{ response: WireResponse }> {
    const operation = operationOf(request);
    this.seen.push(operation);
    const text = bodyText(request.body);
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    const action = this.rule({ operation, json, raw: request });
    if (action && 'respond' in action) {
      return { response: jsonResponse(action.respond.status, action.respond.json, action.respond.headers) };
    }
    let outgoing = request;
    if (action?.forward.body !== undefined) {
      const body = action.forward.body;
      const headers = { ...request.headers };
      for (const k of Object.keys(headers)) if (k.toLowerCase() === 'content-length') delete headers[k];
      headers['content-length'] = String(Buffer.byteLength(body));
      outgoing = { ...request, headers, body };
    }
    const { response } = (await this.inner.handle(outgoing as never, options)) as unknown as { response: WireResponse };
    const edit = action?.forward.editResponse;
    if (!edit) return { response };
    const raw = await readAll(response.body);
    const edited = edit(raw.length ? JSON.parse(raw.toString('utf8')) : {});
    const buf = Buffer.from(JSON.stringify(edited));
    const headers: Record<string, string> = { ...response.headers, 'content-length': String(buf.length) };
    for (const k of Object.keys(headers)) if (k.toLowerCase().startsWith('x-amz-crc32')) delete headers[k];
    return { response: { ...response, headers, body: Readable.from([buf]) } };
  }

  updateHttpClientConfig(): void {}
  httpHandlerConfigs(): Record<string, never> {
    return {};
  }
  destroy(): void {
    this.inner.destroy();
  }
}
