import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { HttpHandlerOptions } from '@smithy/types';
import type { WireRequest, WireResponse } from '../adapters/fault-handler.ts';

/**
 * A request handler for real SDK clients, in front of moto, that plays "the process died at request k".
 *
 * Every client of one simulated process shares a {@link CrashProcess}: it numbers the process's AWS requests in
 * the order they are sent (1, 2, …) across DynamoDB, WAFv2, API Gateway and SNS, names each operation (whatever the
 * wire protocol: JSON `X-Amz-Target`, REST paths, query `Action=`), and writes it to a {@link Journal} shared by
 * every process of a scenario, with its outcome. A crash plan makes request k fail with {@link SimulatedCrash}:
 *
 * - `before`: request k never reaches AWS (the process died just before sending it);
 * - `after`: request k reaches AWS and takes effect, and its answer is lost (the process died right after).
 *
 * `SimulatedCrash` is not an error the SDK or the adapters retry (it is no AWS error, throttling or network code).
 * A stage may still catch it where it isolates one part from the others (contain takes any error of one target as
 * that target's failure), so a crashed process is dead for good: every request it makes afterwards fails the same way
 * and never reaches AWS (counted in `afterCrash`, left out of the journal). A swallowed crash shows up as a run that
 * did not throw.
 */

export class SimulatedCrash extends Error {
  override name = 'SimulatedCrash';
}

export type Service = 'dynamodb' | 'wafv2' | 'apigateway' | 'sns';
export type CrashMode = 'before' | 'after';

export interface Call {
  /** Order across every process of the scenario. */
  seq: number;
  process: string;
  /** 1-based order within its process. */
  index: number;
  service: Service;
  op: string;
  outcome: 'ok' | 'error' | 'crash-before' | 'crash-after';
  status?: number;
}

export class Journal {
  readonly calls: Call[] = [];
  private seq = 0;
  next(): number {
    return ++this.seq;
  }
  /** Calls that changed something in AWS (including a crash-after, whose effect landed). */
  writes(process?: string): Call[] {
    return this.calls.filter((c) => MUTATING.has(c.op) && (c.outcome === 'ok' || c.outcome === 'crash-after') && (process === undefined || c.process === process));
  }
}

/** Operations that change state in AWS. */
export const MUTATING: ReadonlySet<string> = new Set([
  'PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems',
  'UpdateIPSet', 'UpdateRestApi', 'CreateDeployment', 'Publish', 'PublishBatch',
]);

export interface CrashPlan {
  at: number;
  mode: CrashMode;
}

export class CrashProcess {
  private count = 0;
  crash: Call | undefined;
  /** Requests attempted after the crash: none of them is sent (a process that died makes none). */
  afterCrash = 0;

  constructor(
    readonly name: string,
    readonly journal: Journal,
    readonly plan?: CrashPlan,
    /** Awaited before request `index` is sent (to interleave processes deterministically). */
    readonly beforeRequest?: (index: number, op: string) => Promise<void> | void,
  ) {}

  get requests(): number {
    return this.count;
  }

  handler(service: Service): CrashingHandler {
    return new CrashingHandler(service, this);
  }

  /** @internal */
  async send(service: Service, request: WireRequest, inner: NodeHttpHandler, options?: HttpHandlerOptions): Promise<{ response: WireResponse }> {
    const index = ++this.count;
    const op = operationOf(service, request);
    if (this.crash) {
      this.afterCrash++;
      throw new SimulatedCrash(`process ${this.name} is dead: request ${index} (${op}) never sent`);
    }
    await this.beforeRequest?.(index, op);
    const call: Call = { seq: this.journal.next(), process: this.name, index, service, op, outcome: 'ok' };
    this.journal.calls.push(call);
    const crashing = this.plan?.at === index ? this.plan.mode : undefined;
    if (crashing === 'before') {
      call.outcome = 'crash-before';
      this.crash = call;
      throw new SimulatedCrash(`process ${this.name} died before request ${index} (${op})`);
    }
    const { response } = (await inner.handle(request as never, options)) as unknown as { response: WireResponse };
    call.status = response.statusCode;
    if (response.statusCode >= 300) call.outcome = 'error';
    if (crashing === 'after') {
      await drain(response.body);
      call.outcome = 'crash-after';
      this.crash = call;
      throw new SimulatedCrash(`process ${this.name} died after request ${index} (${op}) took effect`);
    }
    return { response };
  }
}

export class CrashingHandler {
  readonly inner = new NodeHttpHandler();
  metadata = { handlerProtocol: 'http/1.1' };

  constructor(
    private readonly service: Service,
    private readonly proc: CrashProcess,
  ) {}

  handle(request: WireRequest, options?: HttpHandlerOptions): Promise<{ response: WireResponse }> {
    return this.proc.send(this.service, request, this.inner, options);
  }

  updateHttpClientConfig(): void {}
  httpHandlerConfigs(): Record<string, never> {
    return {};
  }
  destroy(): void {
    this.inner.destroy();
  }
}

function header(req: WireRequest, name: string): string | undefined {
  return Object.entries(req.headers).find(([k]) => k.toLowerCase() === name)?.[1];
}

function bodyText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  return '';
}

const REST_ROUTES: [string, RegExp, string][] = [
  ['GET', /^\/restapis\/[^/]+$/, 'GetRestApi'],
  ['PATCH', /^\/restapis\/[^/]+$/, 'UpdateRestApi'],
  ['GET', /^\/restapis\/[^/]+\/stages\/[^/]+$/, 'GetStage'],
  ['GET', /^\/restapis\/[^/]+\/stages$/, 'GetStages'],
  ['GET', /^\/restapis\/[^/]+\/resources$/, 'GetResources'],
  ['GET', /^\/restapis\/[^/]+\/deployments\/[^/]+$/, 'GetDeployment'],
  ['GET', /^\/restapis\/[^/]+\/deployments$/, 'GetDeployments'],
  ['POST', /^\/restapis\/[^/]+\/deployments$/, 'CreateDeployment'],
];

/** The operation's name on any of the four wire protocols. */
export function operationOf(service: Service, req: WireRequest): string {
  const target = header(req, 'x-amz-target');
  if (target) return target.slice(target.indexOf('.') + 1);
  if (service === 'apigateway') {
    const path = req.path.split('?')[0];
    for (const [method, re, op] of REST_ROUTES) if (req.method === method && re.test(path)) return op;
    return `${req.method} ${path}`;
  }
  const action = new URLSearchParams(bodyText(req.body)).get('Action');
  return action ?? `${req.method} ${req.path}`;
}

async function drain(body: unknown): Promise<void> {
  if (body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array) return;
  for await (const chunk of body as AsyncIterable<unknown>) void chunk;
}

/** True when `err` or one of its causes is a {@link SimulatedCrash}. */
export function isSimulatedCrash(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 10; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { name?: string }).name === 'SimulatedCrash') return true;
  }
  return false;
}
