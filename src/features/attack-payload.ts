/**
 * Request targets that carry an attack rather than ask for a resource: traversal, injection, shell, template and
 * JNDI payloads, and probes for secrets. One pass over the characters decides which markers can be in the path (a
 * path with none of the gate characters can hold only the markers without them), then plain substring checks; no
 * regex, because the path is attacker-controlled.
 */
const MARKERS = [
  '../', '..\\', '..%2f', '%2e%2e', 'etc/passwd', 'win.ini', 'boot.ini', 'cmd.exe', 'root.exe', '/bin/sh', 'cmd=',
  '<script', 'javascript:', 'onerror=', 'onload=', 'alert(', 'union select', 'union%20select', 'union+select',
  "' or", '%27%20or', "'--", '%27--', 'sleep(', 'benchmark(', 'waitfor delay', 'xp_cmdshell', '${jndi', '%24%7bjndi',
  '<?php', 'php://', 'phpinfo', '%00', '/.env', '/.git/', '/.svn/', '/.aws/', 'wp-config', 'id_rsa', '.htpasswd',
  '/etc/shadow', 'default.ida', '/_vti_bin/', '/msadc/', '{{', 'base64_decode',
];
const MAX_CHARS = 512;

/** . % < ' ( $ { \ = : the characters that make a path worth the full marker check (most paths hold none). */
const isGateChar = (c: number): boolean => c === 46 || c === 37 || c === 60 || c === 39 || c === 40 || c === 36 || c === 123 || c === 92 || c === 61;
/** - _ : + and space: markers without a gate character hold one of these (wp-config, xp_cmdshell, javascript:). */
const isPunct = (c: number): boolean => c === 45 || c === 95 || c === 58 || c === 43 || c === 32;
const hasAny = (m: string, f: (c: number) => boolean): boolean => [...m].some((ch) => f(ch.charCodeAt(0)));
/** Markers with no gate character, and with one of the punctuation characters above. */
const PUNCT_MARKERS = MARKERS.filter((m) => !hasAny(m, isGateChar) && hasAny(m, isPunct));
/** Markers of letters and slashes alone (etc/passwd, phpinfo, /msadc/): looked for in every path. */
const PLAIN_MARKERS = MARKERS.filter((m) => !hasAny(m, isGateChar) && !hasAny(m, isPunct));

export function looksLikeAttack(path: string): boolean {
  const n = Math.min(path.length, MAX_CHARS);
  let gate = false;
  let punct = false;
  let upper = false;
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i);
    if (isGateChar(c)) {
      gate = true;
      break;
    }
    if (c >= 65 && c <= 90) upper = true;
    else if (isPunct(c)) punct = true;
  }
  const cut = path.length > MAX_CHARS ? path.slice(0, MAX_CHARS) : path;
  if (gate) {
    const p = cut.toLowerCase();
    for (const m of MARKERS) if (p.includes(m)) return true;
    return false;
  }
  // No gate character: only the markers without one can be there; lower-cased only when the path has capitals.
  const p = upper ? cut.toLowerCase() : cut;
  for (const m of PLAIN_MARKERS) if (p.includes(m)) return true;
  if (punct) for (const m of PUNCT_MARKERS) if (p.includes(m)) return true;
  return false;
}
