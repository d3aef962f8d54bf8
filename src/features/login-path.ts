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
  const p = path.length > 256 ? path.slice(0, 256).toLowerCase() : path.toLowerCase();
  for (const m of LOGIN_MARKERS) if (p.includes(m)) return true;
  return false;
}
