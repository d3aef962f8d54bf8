/**
 * Request targets that carry an attack rather than ask for a resource: traversal, injection, shell, template and
 * JNDI payloads, and probes for secrets. One pass over the characters decides whether the path is worth a closer
 * look (most are not), then plain substring checks; no regex, because the path is attacker-controlled.
 */
const MARKERS = [
  '../', '..\\', '..%2f', '%2e%2e', 'etc/passwd', 'win.ini', 'boot.ini', 'cmd.exe', 'root.exe', '/bin/sh', 'cmd=',
  '<script', 'javascript:', 'onerror=', 'onload=', 'alert(', 'union select', 'union%20select', 'union+select',
  "' or", '%27%20or', "'--", '%27--', 'sleep(', 'benchmark(', 'waitfor delay', 'xp_cmdshell', '${jndi', '%24%7bjndi',
  '<?php', 'php://', 'phpinfo', '%00', '/.env', '/.git/', '/.svn/', '/.aws/', 'wp-config', 'id_rsa', '.htpasswd',
  '/etc/shadow', 'default.ida', '/_vti_bin/', '/msadc/', '{{', 'base64_decode',
];
const MAX_CHARS = 512;

export function looksLikeAttack(path: string): boolean {
  const n = Math.min(path.length, MAX_CHARS);
  let suspicious = false;
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i);
    // . % < ' ( $ { \ are the characters every marker above contains at least one of.
    if (c === 46 || c === 37 || c === 60 || c === 39 || c === 40 || c === 36 || c === 123 || c === 92 || c === 61) {
      suspicious = true;
      break;
    }
  }
  if (!suspicious) return false;
  const p = (path.length > MAX_CHARS ? path.slice(0, MAX_CHARS) : path).toLowerCase();
  for (const m of MARKERS) if (p.includes(m)) return true;
  return false;
}
