import { LOGIN_MARKERS } from '../features/login-path.ts';

/**
 * The WAF rule that enforces route-scoped blocks (config `waf.routeScoped`, src/contain/route-scope.ts): a request
 * from an address in cordon's route IP sets is blocked when it is a POST to a login path, and only then.
 *
 *     AND( OR(IPSetReference(route v4), IPSetReference(route v6)),
 *          ByteMatch(method EXACTLY "POST"),
 *          RegexMatch(URI path, URL_DECODE then LOWERCASE, login|logon|signin|…) )
 *
 * The path test is the one cordon counts login POSTs with (src/features/login-path.ts: a substring of the lower-cased
 * path), as one regex rather than a ByteMatch per marker: 3 WCUs plus 10 per transformation instead of 20 per marker.
 * URL_DECODE first, so `/log%69n` (which API Gateway routes to /login) is refused too. The rule is built here in the
 * shape of CDK's CfnWebACL/CfnRuleGroup RuleProperty (camelCase); {@link wafApiJson} gives the WAF API's own JSON,
 * which the local outputs show.
 */

/** Route IP sets per address family: one each (10,000 addresses), created by the stack when the option is on. */
export const ROUTE_IP_SETS_PER_FAMILY = 1;

/** Name of the route rule in cordon's web ACL and rule group. */
export const ROUTE_RULE_NAME = 'cordon-block-login-route';

/** The login markers as one PCRE alternation (each escaped: a marker is matched as text). */
export const LOGIN_PATH_REGEX = LOGIN_MARKERS.map((m) => m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');

/** WCUs of the rule with `sets` IP sets: 1 per reference, 2 for the method, 3 + 10 × 2 transformations for the path. */
export const routeRuleCapacity = (sets: number): number => sets + 2 + 23;

interface TextTransformation { priority: number; type: string }
interface IpSetReference { ipSetReferenceStatement: { arn: string } }
interface MethodMatch {
  byteMatchStatement: { fieldToMatch: { method: Record<string, never> }; positionalConstraint: string; searchString: string;
    textTransformations: TextTransformation[] };
}
interface PathMatch {
  regexMatchStatement: { fieldToMatch: { uriPath: Record<string, never> }; regexString: string; textTransformations: TextTransformation[] };
}
type AddressMatch = IpSetReference | { orStatement: { statements: IpSetReference[] } };

export interface RouteRule {
  name: string;
  priority: number;
  action: { block: Record<string, never> };
  statement: { andStatement: { statements: (AddressMatch | MethodMatch | PathMatch)[] } };
  visibilityConfig: { cloudWatchMetricsEnabled: boolean; metricName: string; sampledRequestsEnabled: boolean };
}

/**
 * The route rule over the route IP sets with these ARNs (at least one; WAF wants two or more statements in an OR, so
 * a single set is referenced directly).
 */
export function routeRule(o: { setArns: string[]; priority: number; name?: string; metricName?: string }): RouteRule {
  if (o.setArns.length === 0) throw new RangeError('the route rule needs at least one IP set');
  const refs: IpSetReference[] = o.setArns.map((arn) => ({ ipSetReferenceStatement: { arn } }));
  const name = o.name ?? ROUTE_RULE_NAME;
  return {
    name,
    priority: o.priority,
    action: { block: {} },
    statement: {
      andStatement: {
        statements: [
          refs.length === 1 ? refs[0] : { orStatement: { statements: refs } },
          { byteMatchStatement: { fieldToMatch: { method: {} }, positionalConstraint: 'EXACTLY', searchString: 'POST',
            textTransformations: [{ priority: 0, type: 'NONE' }] } },
          { regexMatchStatement: { fieldToMatch: { uriPath: {} }, regexString: LOGIN_PATH_REGEX,
            textTransformations: [{ priority: 0, type: 'URL_DECODE' }, { priority: 1, type: 'LOWERCASE' }] } },
        ],
      },
    },
    visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: o.metricName ?? name, sampledRequestsEnabled: true },
  };
}

/** Member names whose WAF API spelling is not the camelCase name with its first letter raised. */
const API_NAMES: Record<string, string> = { arn: 'ARN', ipSetReferenceStatement: 'IPSetReferenceStatement' };

/** A rule in the WAF API's JSON (what the console's rule editor and `aws wafv2` take): PascalCase members. */
export function wafApiJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(wafApiJson);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [API_NAMES[k] ?? k[0].toUpperCase() + k.slice(1), wafApiJson(v)]));
  }
  return value;
}
