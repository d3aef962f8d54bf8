import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * An in-memory DynamoDB behind the document client interface, so the real adapters (bucketed baselines, window
 * parts, ledger) run unchanged and every call is charged the capacity units DynamoDB would bill: writes by the
 * larger of the old and new item (1 per KB), reads by bytes read (1 per 4 KB strongly consistent, half that
 * eventually consistent), failed conditional writes too. Only the expressions the adapters use are understood.
 */

type Item = Record<string, unknown>;

export interface TableBill {
  writeUnits: number;
  readUnits: number;
  calls: Record<string, number>;
}

interface Command {
  constructor: { name: string };
  input: Record<string, any>;
}

class ConditionalCheckFailed extends Error {
  override name = 'ConditionalCheckFailedException';
}

export class FakeDynamo {
  private readonly tables = new Map<string, Map<string, Item>>();
  readonly bills = new Map<string, TableBill>();
  /** Write and read units by what the item holds (its pk prefix: `win`, `wins`, `base`, `mark`, or `ledger`). */
  readonly byKind = new Map<string, { writeUnits: number; readUnits: number }>();

  /** A document client whose `send` is served by this fake (the adapters accept any DynamoDBDocumentClient). */
  client(): DynamoDBDocumentClient {
    const doc = Object.create(DynamoDBDocumentClient.prototype) as DynamoDBDocumentClient;
    // Commands never reach a middleware stack here; adapters may still register middleware on the client.
    const middlewareStack = { add() {}, addRelativeTo() {}, use() {}, remove: () => true };
    Object.assign(doc, { send: async (c: Command) => this.send(c), middlewareStack });
    return doc;
  }

  get totalWriteUnits(): number {
    let n = 0;
    for (const b of this.bills.values()) n += b.writeUnits;
    return n;
  }

  get totalReadUnits(): number {
    let n = 0;
    for (const b of this.bills.values()) n += b.readUnits;
    return n;
  }

  get totalCalls(): number {
    let n = 0;
    for (const b of this.bills.values()) for (const c of Object.values(b.calls)) n += c;
    return n;
  }

  private send(c: Command): unknown {
    const op = c.constructor.name;
    const input = c.input;
    switch (op) {
      case 'PutCommand': return this.put(input);
      case 'GetCommand': return this.get(input);
      case 'UpdateCommand': return this.update(input);
      case 'QueryCommand': return this.query(input);
      case 'ScanCommand': return this.scan(input);
      case 'BatchWriteCommand': return this.batchWrite(input);
      default: throw new Error(`fake DynamoDB does not speak ${op}`);
    }
  }

  private bill(table: string, op: string): TableBill {
    let b = this.bills.get(table);
    if (!b) this.bills.set(table, (b = { writeUnits: 0, readUnits: 0, calls: {} }));
    b.calls[op] = (b.calls[op] ?? 0) + 1;
    return b;
  }

  private charge(table: string, pk: unknown, write: number, read: number): void {
    const kind = table === 'ledger' ? 'ledger' : String(pk).split('#')[0];
    let k = this.byKind.get(kind);
    if (!k) this.byKind.set(kind, (k = { writeUnits: 0, readUnits: 0 }));
    k.writeUnits += write;
    k.readUnits += read;
  }

  private table(name: string): Map<string, Item> {
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = new Map()));
    return t;
  }

  private put(input: Record<string, any>): object {
    const items = this.table(input.TableName);
    const item = structuredClone(input.Item) as Item;
    const key = keyOf(item);
    const old = items.get(key);
    const wu = writeUnits(old, item);
    this.bill(input.TableName, 'PutItem').writeUnits += wu;
    this.charge(input.TableName, item.pk, wu, 0);
    if (input.ConditionExpression && !holds(input.ConditionExpression, old, input)) throw new ConditionalCheckFailed('conditional put');
    items.set(key, item);
    return {};
  }

  private get(input: Record<string, any>): object {
    const item = this.table(input.TableName).get(keyOf(input.Key));
    const ru = readUnits(item ? itemBytes(item) : 0, input.ConsistentRead);
    this.bill(input.TableName, 'GetItem').readUnits += ru;
    this.charge(input.TableName, input.Key.pk, 0, ru);
    return { Item: item ? structuredClone(item) : undefined };
  }

  private update(input: Record<string, any>): object {
    const items = this.table(input.TableName);
    const key = keyOf(input.Key);
    const old = items.get(key);
    const next: Item = { ...(old ?? input.Key) };
    for (const assignment of String(input.UpdateExpression).replace(/^SET\s+/, '').split(',')) {
      const [lhs, rhs] = assignment.split('=').map((s) => s.trim());
      next[operandName(lhs, input)] = operandValue(rhs, next, input);
    }
    const wu = writeUnits(old, next);
    this.bill(input.TableName, 'UpdateItem').writeUnits += wu;
    this.charge(input.TableName, input.Key.pk, wu, 0);
    if (input.ConditionExpression && !holds(input.ConditionExpression, old, input)) throw new ConditionalCheckFailed('conditional update');
    items.set(key, next);
    return {};
  }

  private query(input: Record<string, any>): object {
    if (input.IndexName) return this.queryIndex(input);
    const m = /^pk = (:\w+)$/.exec(String(input.KeyConditionExpression).trim());
    if (!m) throw new Error(`fake DynamoDB: unsupported key condition ${input.KeyConditionExpression}`);
    const pk = input.ExpressionAttributeValues[m[1]];
    const found = [...this.table(input.TableName).values()].filter((it) => it.pk === pk).sort(bySortKey);
    if (input.ScanIndexForward === false) found.reverse();
    let bytes = 0;
    for (const it of found) bytes += itemBytes(it);
    const ru = readUnits(bytes, input.ConsistentRead);
    this.bill(input.TableName, 'Query').readUnits += ru;
    this.charge(input.TableName, pk, 0, ru);
    return { Items: found.map((it) => structuredClone(it)) };
  }

  /**
   * A global secondary index query (the ledger's status index): the key condition is an attribute equal to a value,
   * optionally AND a range condition; billed on the items read, before the filter, eventually consistent as GSIs are.
   */
  private queryIndex(input: Record<string, any>): object {
    const all = [...this.table(input.TableName).values()];
    const found = all.filter((it) => holds(String(input.KeyConditionExpression), it, input));
    let bytes = 0;
    for (const it of found) bytes += itemBytes(it);
    const ru = readUnits(bytes, false);
    this.bill(input.TableName, 'Query').readUnits += ru;
    this.charge(input.TableName, 'index', 0, ru);
    const kept = input.FilterExpression ? found.filter((it) => holdsFilter(String(input.FilterExpression), it, input)) : found;
    return { Items: kept.map((it) => structuredClone(it)) };
  }

  private scan(input: Record<string, any>): object {
    const all = [...this.table(input.TableName).values()];
    let bytes = 0;
    for (const it of all) bytes += itemBytes(it);
    const ru = readUnits(bytes, input.ConsistentRead);
    this.bill(input.TableName, 'Scan').readUnits += ru;
    this.charge(input.TableName, 'scan', 0, ru);
    const kept = input.FilterExpression ? all.filter((it) => holds(input.FilterExpression, it, input)) : all;
    return { Items: kept.map((it) => structuredClone(it)) };
  }

  private batchWrite(input: Record<string, any>): object {
    for (const [tableName, requests] of Object.entries(input.RequestItems as Record<string, any[]>)) {
      const items = this.table(tableName);
      const bill = this.bill(tableName, 'BatchWriteItem');
      for (const r of requests) {
        if (r.PutRequest) {
          const item = structuredClone(r.PutRequest.Item) as Item;
          const key = keyOf(item);
          const wu = writeUnits(items.get(key), item);
          bill.writeUnits += wu;
          this.charge(tableName, item.pk, wu, 0);
          items.set(key, item);
        } else {
          const key = keyOf(r.DeleteRequest.Key);
          const old = items.get(key);
          const wu = Math.max(1, Math.ceil((old ? itemBytes(old) : 0) / 1024));
          bill.writeUnits += wu;
          this.charge(tableName, r.DeleteRequest.Key.pk, wu, 0);
          items.delete(key);
        }
      }
    }
    return { UnprocessedItems: {} };
  }
}

function keyOf(item: Item): string {
  return `${String(item.pk)}\u0000${String(item.sk)}`;
}

function bySortKey(a: Item, b: Item): number {
  const x = a.sk as string | number;
  const y = b.sk as string | number;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Write units: the larger of the item before and after, 1 per KB started (DynamoDB's rule for puts and updates). */
function writeUnits(old: Item | undefined, next: Item): number {
  return Math.max(1, Math.ceil(Math.max(old ? itemBytes(old) : 0, itemBytes(next)) / 1024));
}

/** Read units: 1 per 4 KB started, strongly consistent; half for eventually consistent reads. */
function readUnits(bytes: number, consistent: boolean | undefined): number {
  const units = Math.max(1, Math.ceil(bytes / 4096));
  return consistent ? units : units / 2;
}

/** DynamoDB's item size: attribute names plus values (numbers ~1 byte per 2 digits, 3 bytes + 1 per element for maps/lists). */
export function itemBytes(item: Item): number {
  let n = 0;
  for (const [k, v] of Object.entries(item)) if (v !== undefined) n += Buffer.byteLength(k) + valueBytes(v);
  return n;
}

function valueBytes(v: unknown): number {
  if (typeof v === 'string') return Buffer.byteLength(v);
  if (typeof v === 'number') return Math.ceil(String(Math.abs(v)).replace(/[.e+-]/g, '').replace(/^0+/, '').length / 2) + 1;
  if (typeof v === 'boolean' || v === null) return 1;
  if (v instanceof Uint8Array) return v.byteLength;
  if (Array.isArray(v)) return 3 + v.reduce((s: number, x) => s + valueBytes(x) + 1, 0);
  if (v instanceof Set) return 3 + [...v].reduce((s: number, x) => s + valueBytes(x), 0);
  if (typeof v === 'object') {
    let n = 3;
    for (const [k, x] of Object.entries(v as Item)) if (x !== undefined) n += Buffer.byteLength(k) + valueBytes(x) + 1;
    return n;
  }
  return 0;
}

// --- the few condition expressions the adapters write ---------------------------------------------------------

/** A filter: `holds`, or `NOT contains(list, :v)` (the ledger's "not alerted yet"). */
function holdsFilter(expr: string, item: Item, input: Record<string, any>): boolean {
  const notContains = /^NOT contains\((\S+),\s*(:\w+)\)$/.exec(expr.trim());
  if (!notContains) return holds(expr, item, input);
  const list = item[operandName(notContains[1], input)];
  return !(Array.isArray(list) && list.includes(input.ExpressionAttributeValues[notContains[2]]));
}

function holds(expr: string, item: Item | undefined, input: Record<string, any>): boolean {
  return expr.split(/\s+OR\s+/).some((alt) => alt.split(/\s+AND\s+/).every((atom) => atomHolds(atom.trim(), item, input)));
}

function atomHolds(atom: string, item: Item | undefined, input: Record<string, any>): boolean {
  const notExists = /^attribute_not_exists\((.+)\)$/.exec(atom);
  if (notExists) return item === undefined || item[operandName(notExists[1], input)] === undefined;
  const cmp = /^(\S+)\s*(<=|>=|<>|=|<|>)\s*(\S+)$/.exec(atom);
  if (!cmp) throw new Error(`fake DynamoDB: unsupported condition ${atom}`);
  if (item === undefined) return false;
  const a = item[operandName(cmp[1], input)] as number | string | undefined;
  const b = operandValue(cmp[3], item, input) as number | string | undefined;
  if (a === undefined || b === undefined) return false;
  switch (cmp[2]) {
    case '=': return a === b;
    case '<>': return a !== b;
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    default: return a >= b;
  }
}

function operandName(token: string, input: Record<string, any>): string {
  return token.startsWith('#') ? input.ExpressionAttributeNames[token] : token;
}

function operandValue(token: string, item: Item, input: Record<string, any>): unknown {
  if (token.startsWith(':')) return input.ExpressionAttributeValues[token];
  return item[operandName(token, input)];
}
