/**
 * The access-log format cordon recommends for REST API stages (DESIGN §3, format 1). One JSON object a line.
 *
 * - `$context.extendedRequestId` is kept next to `requestId` because a client can set `requestId` but not
 *   `extendedRequestId`.
 * - Numeric context variables are written unquoted; API Gateway writes `-` where a value is missing, also unquoted
 *   (`"status":-`), which cordon's decoder reads (DESIGN §3 item 3).
 * - `$context.identity.sourceIp` is the TCP peer: behind your own CloudFront or proxy it is the proxy.
 *
 * The construct sets it on stages it manages (`manageAccessLogFormat`); for other stages apply it with
 * {@link accessLogCliCommand} or the console (Stages → Logs and tracing → Custom access logging).
 */
export const RECOMMENDED_ACCESS_LOG_FIELDS = [
  ['requestId', '$context.requestId', 'string'],
  ['extendedRequestId', '$context.extendedRequestId', 'string'],
  ['ip', '$context.identity.sourceIp', 'string'],
  ['requestTimeEpoch', '$context.requestTimeEpoch', 'number'],
  ['httpMethod', '$context.httpMethod', 'string'],
  ['resourcePath', '$context.resourcePath', 'string'],
  ['path', '$context.path', 'string'],
  ['status', '$context.status', 'number'],
  ['protocol', '$context.protocol', 'string'],
  ['responseLength', '$context.responseLength', 'number'],
  ['responseLatency', '$context.responseLatency', 'number'],
  ['integrationLatency', '$context.integrationLatency', 'number'],
  ['userAgent', '$context.identity.userAgent', 'string'],
  ['caller', '$context.identity.caller', 'string'],
  ['user', '$context.identity.user', 'string'],
  ['userArn', '$context.identity.userArn', 'string'],
  ['principalId', '$context.authorizer.principalId', 'string'],
  ['apiKeyId', '$context.identity.apiKeyId', 'string'],
  ['wafResponseCode', '$context.wafResponseCode', 'string'],
  ['apiId', '$context.apiId', 'string'],
  ['stage', '$context.stage', 'string'],
  ['domainName', '$context.domainName', 'string'],
] as const;

/** The format string itself: a single line, as API Gateway wants it. */
export const RECOMMENDED_ACCESS_LOG_FORMAT: string =
  '{' +
  RECOMMENDED_ACCESS_LOG_FIELDS.map(([name, variable, kind]) =>
    kind === 'number' ? `"${name}":${variable}` : `"${name}":"${variable}"`,
  ).join(',') +
  '}';

/**
 * The AWS CLI command that applies the recommended format to an existing stage (one CloudFormation does not own).
 * API Gateway needs its account-level CloudWatch Logs role (`aws apigateway update-account`) set once per region.
 */
export function accessLogCliCommand(restApiId: string, stageName: string, logGroupArn: string): string {
  const ops = [
    { op: 'replace', path: '/accessLogSettings/destinationArn', value: logGroupArn },
    { op: 'replace', path: '/accessLogSettings/format', value: RECOMMENDED_ACCESS_LOG_FORMAT },
  ];
  const quoted = `'${JSON.stringify(ops).replace(/'/g, `'\\''`)}'`;
  return `aws apigateway update-stage --rest-api-id ${restApiId} --stage-name ${stageName} --patch-operations ${quoted}`;
}
