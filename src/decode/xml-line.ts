import type { AccessEvent } from '../events.ts';
import { parseClfTime } from './clf-time.ts';
import { ABSENT, buildEvent } from './event.ts';
import { unverifiedPrincipal } from './principal-key.ts';
import { parseDecimal } from './numbers.ts';
import { Reason, type ReasonText } from './reasons.ts';
import { routeKeyMethod, routeKeyResource } from './route-key.ts';

/**
 * API Gateway's XML preset, REST (`<resourcePath>`) or HTTP API (`<routeKey>`):
 * `<request id="…"> <ip>…</ip> <caller>…</caller> <user>…</user> <requestTime>…</requestTime>
 * <httpMethod>…</httpMethod> <resourcePath>…</resourcePath> <status>…</status> <protocol>…</protocol>
 * <responseLength>…</responseLength> </request>`. Elements are found with indexOf; API Gateway does not
 * escape values, so they are taken verbatim.
 */
export function decodeXmlLine(line: string): AccessEvent | ReasonText {
  if (!line.startsWith('<request') || line.indexOf('</request>') < 0) return Reason.badXml;
  const ip = element(line, '<ip>', '</ip>');
  const requestTime = element(line, '<requestTime>', '</requestTime>');
  const status = element(line, '<status>', '</status>');
  if (ip === null || requestTime === null || status === null) return Reason.badXml;
  const routeKey = orEmpty(element(line, '<routeKey>', '</routeKey>'));
  const resource = orEmpty(element(line, '<resourcePath>', '</resourcePath>')) || routeKeyResource(routeKey);
  const length = element(line, '<responseLength>', '</responseLength>');
  return buildEvent(
    requestTime === '-' ? ABSENT : parseClfTime(requestTime),
    ip,
    orEmpty(element(line, '<httpMethod>', '</httpMethod>')) || routeKeyMethod(routeKey),
    resource,
    resource,
    parseDecimal(status),
    length === null ? ABSENT : parseDecimal(length),
    ABSENT,
    '',
    unverifiedPrincipal(orEmpty(element(line, '<caller>', '</caller>')) || orEmpty(element(line, '<user>', '</user>'))),
  );
}

/** The text between `open` and the next `close`, or null when the element is absent. */
function element(line: string, open: string, close: string): string | null {
  const at = line.indexOf(open);
  if (at < 0) return null;
  const from = at + open.length;
  const to = line.indexOf(close, from);
  return to < 0 ? null : line.slice(from, to);
}

function orEmpty(value: string | null): string {
  return value === null || value === '-' ? '' : value;
}
