import type { AccessEvent } from '../events.ts';
import { parseClfTime } from './clf-time.ts';
import { ABSENT, buildEvent } from './event.ts';
import { parseDecimal } from './numbers.ts';
import { unverifiedPrincipal } from './principal-key.ts';
import { Reason, type ReasonText } from './reasons.ts';
import { routeKeyMethod, routeKeyResource } from './route-key.ts';

/** More fields than any preset has: stop splitting, the line is not one of ours. */
const MAX_FIELDS = 12;

/**
 * API Gateway's CSV presets, told apart by field count:
 * - REST (10, or 11 with extendedRequestId): `sourceIp,caller,user,requestTime,httpMethod,resourcePath,protocol,
 *   status,responseLength,requestId[,extendedRequestId]`
 * - HTTP API (8): `sourceIp,requestTime,httpMethod,routeKey,protocol,status,responseLength,requestId`
 * Values are not quoted by API Gateway; none of these fields can hold a comma.
 */
export function decodeCsvLine(line: string): AccessEvent | ReasonText {
  const f = splitCsv(line);
  if (f === null) return Reason.badCsv;
  if (f.length === 8) {
    const routeKey = dash(f[3]);
    const resource = routeKeyResource(routeKey);
    return buildEvent(
      parseTime(f[1]), f[0], dash(f[2]) || routeKeyMethod(routeKey), resource, resource,
      parseDecimal(f[5]), parseDecimal(f[6]), ABSENT, '', '',
    );
  }
  if (f.length === 10 || f.length === 11) {
    const resource = dash(f[5]);
    return buildEvent(
      parseTime(f[3]), f[0], dash(f[4]), resource, resource,
      parseDecimal(f[7]), parseDecimal(f[8]), ABSENT, '', unverifiedPrincipal(dash(f[1]) || dash(f[2])),
    );
  }
  return Reason.badCsv;
}

function splitCsv(line: string): string[] | null {
  let end = line.length;
  while (end > 0 && (line.charCodeAt(end - 1) === 13 || line.charCodeAt(end - 1) === 32)) end--;
  const fields: string[] = [];
  let from = 0;
  while (fields.length < MAX_FIELDS) {
    let comma = line.indexOf(',', from);
    if (comma < 0 || comma > end) comma = end;
    fields.push(line.slice(from, comma));
    if (comma === end) return fields;
    from = comma + 1;
  }
  return null;
}

function parseTime(field: string): number {
  return field === '-' ? ABSENT : parseClfTime(field);
}

function dash(field: string): string {
  return field === '-' ? '' : field;
}
