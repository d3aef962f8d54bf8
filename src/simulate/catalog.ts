/** What the simulated API serves and who calls it: user agents, probe paths and routes (from apitraffic.py). */

export const DEFAULT_START_MS = 1793577600000; // 2026-11-02T00:00:00Z
export const ACCOUNT = '123456789012';

export const BROWSER_UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0',
] as const;

export const SDK_UAS = [
  'aws-sdk-js/3.700.0 ua/2.1 os/linux lang/js md/nodejs#20.18.0',
  'okhttp/4.12.0',
  'python-requests/2.32.3',
  'MyShopApp/5.2.1 (iOS 18.1)',
  'MyShopApp/5.2.0 (Android 14)',
] as const;

export const CLIENT_UAS = [...BROWSER_UAS, ...SDK_UAS];

export const SCANNER_UAS = [
  'Mozilla/5.0 zgrab/0.x',
  'Nuclei - Open-source project (github.com/projectdiscovery/nuclei)',
  'Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)',
  'sqlmap/1.8#stable',
  'Go-http-client/1.1',
  'curl/8.5.0',
] as const;

export const CRAWLER_UA = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
export const HEALTH_CHECK_UA = 'ELB-HealthChecker/2.0';

export const PROBE_PATHS = [
  '/.env', '/.git/config', '/wp-login.php', '/wp-admin/', '/phpmyadmin/', '/admin', '/admin.php', '/config.json',
  '/server-status', '/actuator/env', '/actuator/health', '/.aws/credentials', '/backup.zip', '/db.sql',
  '/api/v1/../../etc/passwd', '/cgi-bin/luci', '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php',
  '/solr/admin/info/system', '/console', '/debug/pprof', '/.DS_Store', '/xmlrpc.php', '/owa/auth/logon.aspx',
  '/remote/login', '/boaform/admin/formLogin', '/HNAP1/', '/manager/html', '/jenkins/login', '/swagger.json',
  '/graphql', '/api/swagger-ui.html', '/.svn/entries', '/web.config', '/id_rsa', '/.htpasswd',
] as const;

/** A scanner's wordlist: the probe paths plus common names with backup/config suffixes. */
export const SCANNER_WORDS: readonly string[] = [
  ...PROBE_PATHS,
  ...['admin', 'backup', 'old', 'test', 'api', 'v1', 'dev'].flatMap((word) =>
    ['', '.bak', '.old', '.zip', '/config', '/login', '.php', '/.env'].map((suffix) => `/${word}${suffix}`),
  ),
];

/** First octets of public unicast space that real client addresses come from. */
export const PUBLIC_FIRST_OCTETS = [
  3, 13, 18, 23, 24, 31, 34, 37, 41, 45, 46, 49, 52, 62, 66, 67, 68, 69, 71, 73, 74, 76, 77, 78, 79, 80, 81, 82, 83,
  84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 101, 103, 104, 105, 106, 107, 108, 109, 110, 112,
  113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 129, 130, 131, 134, 135, 136, 137, 138, 139, 140,
  141, 142, 143, 144, 145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163,
  164, 165, 166, 167, 168, 170, 171, 173, 174, 175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188,
  189, 190, 191, 193, 194, 195, 196, 197, 199, 200, 201, 202, 203, 209, 210, 211, 212, 213, 216, 217, 218, 219, 220,
  221, 222, 223,
] as const;

export interface Route {
  method: string;
  resource: string;
  weight: number;
  /** Typical response bytes. */
  bytes: number;
}

export const ROUTES: readonly Route[] = [
  { method: 'GET', resource: '/items', weight: 30, bytes: 4200 },
  { method: 'GET', resource: '/items/{id}', weight: 35, bytes: 900 },
  { method: 'POST', resource: '/items', weight: 4, bytes: 300 },
  { method: 'PUT', resource: '/items/{id}', weight: 3, bytes: 300 },
  { method: 'GET', resource: '/users/{id}', weight: 10, bytes: 600 },
  { method: 'GET', resource: '/search', weight: 12, bytes: 3000 },
  { method: 'POST', resource: '/orders', weight: 3, bytes: 500 },
  { method: 'GET', resource: '/orders/{id}', weight: 3, bytes: 700 },
];
