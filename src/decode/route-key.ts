/**
 * HTTP APIs log `$context.routeKey` (`GET /items/{id}`, `ANY /{proxy+}`, `$default`) where REST APIs log a
 * method and `$context.resourcePath`. These split it.
 */

/** The resource part of a route key: `/items/{id}` for `GET /items/{id}`, the key itself when it has no method. */
export function routeKeyResource(routeKey: string): string {
  const space = routeKey.indexOf(' ');
  return space < 0 ? routeKey : routeKey.slice(space + 1);
}

/** The method part of a route key, '' when it has none (`$default`). */
export function routeKeyMethod(routeKey: string): string {
  const space = routeKey.indexOf(' ');
  return space < 0 ? '' : routeKey.slice(0, space);
}
