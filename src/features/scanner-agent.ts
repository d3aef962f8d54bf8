/**
 * User agents of attack tools. Only tools whose sole purpose is probing or attacking: generic HTTP libraries
 * (curl, python-requests, Go-http-client) are used by legitimate clients every day and are not in the list.
 */
const TOOLS = [
  'sqlmap', 'nikto', 'w3af', 'nuclei', 'zgrab', 'masscan', 'nmap', 'acunetix', 'netsparker', 'wpscan', 'dirbuster',
  'gobuster', 'feroxbuster', 'ffuf', 'wfuzz', 'hydra', 'nessus', 'openvas', 'zmeu', 'morfeus', 'jorgee', 'havij',
  'arachni', 'skipfish', 'whatweb', 'commix', 'xsstrike', 'appscan', 'webinspect', 'dirsearch', 'fimap', 'jaeles',
];

export function isScannerAgent(userAgent: string): boolean {
  const ua = (userAgent.length > 300 ? userAgent.slice(0, 300) : userAgent).toLowerCase();
  for (const t of TOOLS) if (ua.includes(t)) return true;
  return false;
}
