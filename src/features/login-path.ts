/**
 * Paths that take credentials. Web logs often answer a failed login with 200 (Joomla, WordPress), so for them a
 * run of POSTs to a login path is the only trace of a brute force. Substring checks, no regex: the path is
 * attacker-controlled and this runs on every POST.
 */
export const LOGIN_MARKERS: readonly string[] = [
  'login', 'logon', 'signin', 'sign-in', 'sign_in', 'auth', 'session', 'token', 'administrator', 'wp-login',
  'xmlrpc', 'password', 'passwd', 'account',
];

export function isLoginPath(path: string): boolean {
  let p = path.length > 256 ? path.slice(0, 256).toLowerCase() : path.toLowerCase();
  // A route template (a log without $context.path has the resource path, e.g. /users/{accountid}/orders): the names
  // of its variables are no part of any URL, so they say nothing about logins (and WAF never sees them).
  if (p.includes('{')) p = withoutTemplateVariables(p);
  for (const m of LOGIN_MARKERS) if (p.includes(m)) return true;
  return false;
}

/** `p` without its `{…}` segments, in one pass (the path is attacker-controlled: no backtracking regex). */
function withoutTemplateVariables(p: string): string {
  let out = '';
  let from = 0;
  for (;;) {
    const open = p.indexOf('{', from);
    if (open < 0) break;
    const close = p.indexOf('}', open + 1);
    if (close < 0) break; // an unclosed brace is literal text
    out += p.slice(from, open);
    from = close + 1;
  }
  return out + p.slice(from);
}
