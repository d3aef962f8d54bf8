import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { RULE_NAMES, type RuleName } from './detect/rules/index.ts';
import { canonicalCidr, parseCidr } from './net/cidr.ts';

/**
 * Everything an operator can tune. Every field has a default, so cordon runs without a config file; a bad value
 * is rejected with the path of the field that is wrong (see {@link parseConfig}).
 */

const ruleModeSchema = z.enum(['enforce', 'count', 'off']);
const minutes = z.number().positive();
/** A year: the longest a block may last (config.expiry). */
const MAX_BLOCK_MINUTES = 366 * 24 * 60;

// The rule names are the registry's (src/detect/rules): a mode for a rule that is not there is rejected.
export { RULE_NAMES, type RuleName } from './detect/rules/index.ts';

/** Per-rule modes, keyed by the names of the rules in the registry; an unknown key names the valid ones. */
const ruleModesSchema = z.partialRecord(z.enum(RULE_NAMES), ruleModeSchema, {
  // Typed as the general issue: zod's type says a record raises only its own codes, but keys outside the enum come as
  // `unrecognized_keys` (checked by test/config.test.ts).
  error: (issue: z.core.$ZodRawIssue) => issue.code === 'unrecognized_keys'
    ? `not a rule: ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (the rules are ${RULE_NAMES.join(', ')})`
    : undefined,
});

/** Thresholds of one horizon; every count is a decayed sum over the horizon (see `horizons`). */
function horizonThresholds(d: { scanDistinct404: number; failedLogins: number; enumerationFailures: number;
  enumerationDistinct404: number }) {
  return z
    .object({
      /** Distinct missing paths, most of the key's requests answered 404: a slow path scan. */
      scanDistinct404: z.number().min(1).default(d.scanDistinct404),
      /** 401/403 answers to login POSTs: slow password guessing. */
      failedLogins: z.number().min(1).default(d.failedLogins),
      /** 403 and 404 answers together, with at least `enumerationDistinct404` distinct missing paths: walking ids. */
      enumerationFailures: z.number().min(1).default(d.enumerationFailures),
      enumerationDistinct404: z.number().min(1).default(d.enumerationDistinct404),
    })
    .strict()
    .prefault({});
}

/** An IPv6 text of the IPv4-mapped range (`::ffff:a.b.c.d`, `::ffff:0:0/96`), which the parser reads as IPv4. */
function isMappedIpv4(text: string): boolean {
  return text.includes(':') && parseCidr(text)?.family === 4;
}

export const configSchema = z
  .object({
    windows: z
      .object({
        /** Tumbling window length, seconds. */
        sizeSeconds: z.number().int().min(10).max(3600).default(60),
        /** Events up to this much older than the newest seen still land in their own window. */
        allowedLatenessSeconds: z.number().int().min(0).max(600).default(5),
        /**
         * In AWS, extra lateness for the detect stage: log lines of one second reach it over several seconds (each
         * CloudWatch Logs stream is flushed and delivered on its own), so a window waits this much more before it
         * closes. What comes later still counts: it is folded into the next window. Longer means fuller windows;
         * shorter means faster blocks (`cordon rehearse` shows both).
         */
        stageLatenessSeconds: z.number().int().min(0).max(600).default(10),
        /**
         * Windows close on a clock too (DESIGN §1): once wall clock minus this delay passes a window's end, the window
         * is decided even if no later data arrives (an attack followed by silence). The longest delivery delay, request
         * to detect stage, that is still waited for.
         */
        maxDeliveryDelaySeconds: z.number().int().min(0).max(3600).default(60),
        /**
         * Parts that arrive after their window closed are folded into the next window to close, up to this age
         * (past it they are dropped, and counted as dropped).
         */
        foldLateMinutes: z.number().positive().max(24 * 60).default(60),
        /** An event stamped more than this after its CloudWatch Logs timestamp (or the replayed log's clock) is clamped to it. */
        futureToleranceSeconds: z.number().int().min(0).max(3600).default(5),
        /**
         * In a replay, an event stamped more than this before the log's own clock is clamped to it. In AWS an event
         * earlier than its CloudWatch Logs timestamp keeps its time (detect folds it or drops it, counted): a forwarder
         * re-putting a backlog would otherwise pile hours of traffic into one window.
         */
        pastToleranceMinutes: z.number().positive().max(24 * 60).default(15),
        /**
         * Decide unmistakable evidence before its window closes (DESIGN §1): a flood past `floodUnmistakableRequests`, a
         * scan, stuffing or tool traffic past its rule's unmistakable level is blocked as soon as detect holds it, not
         * up to a window and its lateness later. Only unmistakable verdicts act early, with every guard; the window's
         * close decides everything else (and does not decide the same target twice).
         */
        earlyDecisions: z.boolean().default(true),
        /** A key idle for this long is forgotten in memory (its baseline stays in the store). */
        idleEvictMinutes: minutes.default(30),
      })
      .strict()
      .prefault({}),
    baseline: z
      .object({
        /** EWMA weight of a new window. */
        alpha: z.number().gt(0).lt(1).default(0.1),
        /** Windows a key must have been seen in before its own baseline is trusted. */
        minWindows: z.number().int().min(1).default(10),
      })
      .strict()
      .prefault({}),
    thresholds: z
      .object({
        /** Requests in one window from one key before volume rules look at it at all. */
        floodMinRequests: z.number().int().min(1).default(600),
        /** At or above this many requests in a window, a flood is unmistakable and acts at once. */
        floodUnmistakableRequests: z.number().int().min(1).default(1500),
        /** Robust z-score against the population (log requests) a flood must also reach. */
        populationZ: z.number().positive().default(4),
        /** Robust z-score against the key's own history for the volume anomaly rule. */
        selfZ: z.number().positive().default(6),
        /** Distinct 404 paths in a window that make a path scan. */
        scanDistinct404: z.number().int().min(1).default(10),
        /** Share of the key's requests that must be 404 for a path scan. */
        scanNotFoundShare: z.number().gt(0).max(1).default(0.5),
        /** 401/403 responses in a window that make an auth-failure finding. */
        authFailures: z.number().int().min(1).default(20),
        /** Share of the key's requests that are 401/403 for an auth-failure finding. */
        authFailureShare: z.number().gt(0).max(1).default(0.5),
        /** POSTs to login-like paths in a window (web logs where failed logins answer 200). */
        loginPosts: z.number().int().min(1).default(20),
        /** Distinct source IPs for one principal in a window (stolen credentials). */
        principalIps: z.number().int().min(2).default(10),
        /** A principal's requests or bytes this many times its own mean. */
        principalVolumeFactor: z.number().gt(1).default(10),
        /** Distinct principals behind one IP from which it is treated as a shared egress (NAT). */
        natMinPrincipals: z.number().int().min(2).default(5),
        /** Requests carrying attack payloads (traversal, injection, secret probes) in a window. */
        attackPayloads: z.number().int().min(1).default(5),
        /** Requests with an attack tool's user agent in a window. */
        scannerAgentRequests: z.number().int().min(1).default(5),
        /** 5xx answers one client provokes in a window while the rest of the population is served fine. */
        serverErrors: z.number().int().min(1).default(20),
        /** Share of the client's requests those 5xx must be. */
        serverErrorShare: z.number().gt(0).max(1).default(0.1),
        /** Fewer keys of a kind in a window than this, and there is no crowd to compare with: absolute thresholds decide. */
        minPopulation: z.number().int().min(1).default(10),
        /** Share of all requests in a window answered 5xx that marks a server-side incident. */
        incident5xxShare: z.number().gt(0).max(1).default(0.2),
      })
      .strict()
      .prefault({}),
    learning: z
      .object({
        /**
         * Windows of population history (minutes, at the default window) during which cordon is still learning what
         * normal is: a key without history of its own is then not blocked on volume alone unless the evidence is
         * unmistakable (an IP) or it appeared after the start (a prefix); it is alerted and its traffic learned.
         * Behaviour rules act at once. 0 turns the learning period off. A dry run fills it like any run.
         */
        windows: z.number().int().min(0).default(60),
      })
      .strict()
      .prefault({}),
    /**
     * Evidence at horizons longer than a window (src/detect/horizons.ts): what a slow scanner or password guesser
     * piles up over ten minutes or an hour while staying under every per-minute threshold. Counts are decayed sums
     * since the key's first sign (401/403, 404, login POST); `minShare` of what the key sent since then must be the
     * failures in question, so a busy client that fails now and then never adds up.
     */
    horizons: z
      .object({
        enabled: z.boolean().default(true),
        minShare: z.number().gt(0).max(1).default(0.6),
        /**
         * Share of 403/404 for enumeration: lower, because a client walking ids keeps using the API as well; the
         * distinct missing paths it requires keep a client refused one resource over and over out.
         */
        enumerationShare: z.number().gt(0).max(1).default(0.4),
        '10m': horizonThresholds({ scanDistinct404: 15, failedLogins: 10, enumerationFailures: 30, enumerationDistinct404: 8 }),
        '1h': horizonThresholds({ scanDistinct404: 15, failedLogins: 25, enumerationFailures: 15, enumerationDistinct404: 6 }),
      })
      .strict()
      .prefault({}),
    hysteresis: z
      .object({
        /** A finding must hold in k of the last n windows of a key, unless it is unmistakable. */
        k: z.number().int().min(1).default(2),
        n: z.number().int().min(1).default(3),
      })
      .strict()
      .refine((h) => h.k <= h.n, { message: 'k must not exceed n' })
      .prefault({}),
    rules: ruleModesSchema.prefault({}),
    /**
     * Trap routes (honeypot paths): decoys no legitimate client ever requests, so the first request to one is enough
     * (rule `trap-route`, unmistakable, acting before its window closes, through every guard). Each is an exact path
     * or a prefix ending in `*` (`/admin-backup/*`), matched case-sensitively on the path as the access log records it
     * (`$context.path`: with the stage on the execute-api endpoint, with the base path on a custom domain), without
     * its query string.
     */
    trapRoutes: z
      .array(
        z.string()
          .max(256)
          .refine((p) => p.startsWith('/'), 'a trap route is a path: it must start with /')
          .refine((p) => !p.slice(0, -1).includes('*'), 'a * may only end a trap route (a prefix)')
          .refine((p) => !/[?#\s\u0000-\u001f\u007f]/.test(p), 'paths are matched without their query string: no ?, #, spaces or control characters')
          .refine((p) => p !== '/' && p !== '/*', 'every client requests the root: it cannot be a trap'),
      )
      .max(100)
      .default([]),
    allowlist: z
      .object({
        /**
         * Read as WAF and the policy read them (src/net/cidr.ts) and kept in that canonical form, so every consumer
         * agrees: ` 203.0.113.9` is `203.0.113.9/32`, `[2001:db8::1]` is `2001:db8::1/128`, and the IPv4-mapped
         * `::ffff:198.51.100.7` is the IPv4 address `198.51.100.7/32`.
         */
        cidrs: z.array(z.string().refine((c) => parseCidr(c) !== null, 'not an IP address or CIDR')
          // ::ffff:0:0/96 is all of IPv4 once read as IPv4: an entry that named no client must not come to exempt every one.
          .refine((c) => !isMappedIpv4(c) || (parseCidr(c)?.len ?? 0) >= 8, 'an IPv4-mapped block shorter than /104 covers a /8 or more of IPv4: write the IPv4 block you mean')
          .transform((c) => canonicalCidr(c) ?? c))
          .default([]),
        /** IAM ARNs (or other principal keys) matched exactly; a role's ARN also protects its sessions (src/contain/decide.ts). */
        principals: z.array(z.string().trim()).default([]),
      })
      .strict()
      .prefault({}),
    /**
     * Proxies in front of the API (CloudFront, a load balancer, a corporate proxy): their addresses are what the
     * access log shows for everyone behind them, so they are never blocked; traffic through them that would have
     * been is alerted, with advice (src/net/proxies.ts). `cloudfront` adds AWS's CloudFront ranges (the dated copy
     * in src/net/cloudfront-ranges.json; `npm run refresh-cloudfront-ranges` renews it).
     */
    proxies: z
      .object({
        cidrs: z.array(z.string().refine((c) => parseCidr(c) !== null, 'not an IP address or CIDR')).default([]),
        cloudfront: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    expiry: z
      .object({
        // A block shorter than contain's one-minute schedule would never be seen in force; one longer than a year is
        // no expiry at all (and past dates JavaScript can write, escalation would stop every later decision).
        baseMinutes: minutes.min(1).max(MAX_BLOCK_MINUTES).default(60),
        multiplier: z.number().min(1).max(1000).default(4),
        maxMinutes: minutes.min(1).max(MAX_BLOCK_MINUTES).default(7 * 24 * 60),
        /** Earlier blocks of the same target within this many days count as repeat offences. */
        lookbackDays: z.number().positive().max(3650).default(30),
      })
      .strict()
      .prefault({}),
    aggregation: z
      .object({
        /** Offending IPv4 addresses in one /24 that make cordon block the whole /24. */
        ipv4Offenders: z.number().int().min(2).default(3),
        ipv4Prefix: z.number().int().min(8).max(32).default(24),
        ipv6Prefix: z.number().int().min(16).max(128).default(64),
        /**
         * Wider prefixes clients are also judged together in (a scanner hopping to a fresh /64 of its /48 every half
         * minute is never loud in one /64): on behaviour only (never on volume: a wide prefix can hold many unrelated
         * hosts), and only when the window's activity spans two or more of its next narrower prefixes (three for
         * IPv4), so the narrowest prefix that holds the offender is the one blocked. [] turns a family off. IPv4 is
         * off by default: a /16 can hold a whole provider's customers, and its hosts must meet in one partition.
         * A width not shorter than its family's prefix (ipv6Prefix 56 with the default [56, 48]) is ignored.
         */
        ipv6WidePrefixes: z.array(z.number().int().min(16).max(120)).max(3).default([56, 48]),
        ipv4WidePrefixes: z.array(z.number().int().min(8).max(30)).max(2).default([]),
      })
      .strict()
      .refine((a) => new Set(a.ipv6WidePrefixes).size === a.ipv6WidePrefixes.length
        && new Set(a.ipv4WidePrefixes).size === a.ipv4WidePrefixes.length, { message: 'wide prefixes must differ' })
      .prefault({}),
    caps: z
      .object({
        /** New blocks allowed per window; beyond it, decisions are held as alerts. */
        newBlocksPerWindow: z.number().int().min(1).default(50),
        /** Addresses per WAF IP set (AWS's fixed limit is 10,000). */
        addressesPerIpSet: z.number().int().min(1).max(10_000).default(10_000),
        /** IP sets per address family cordon may create. */
        maxIpSetsPerFamily: z.number().int().min(1).max(50).default(5),
        /** Characters of the resource policy (AWS's limit is 8,192). */
        policyMaxChars: z.number().int().min(512).max(8192).default(8192),
      })
      .strict()
      .prefault({}),
    /**
     * A block that would cut more than this share of the last window's requests from clients with an established
     * history is held as an alert and pages a human (see Evidence.trafficShare).
     */
    blastRadiusShare: z.number().gt(0).max(1).default(0.1),
    /**
     * A deny list that Lambda authorizers consult (src/authorizer/deny-list.ts): contain writes every blocked principal
     * and address block into it, after WAF and the policies. Turn it on only once your authorizers read it: a
     * principal it holds then counts as enforced, also one no resource policy can name (Lambda-authorizer and Cognito
     * principals, HTTP APIs). Address blocks are in effect when WAF holds them, whatever the list says.
     */
    denyList: z
      .object({
        enabled: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    /**
     * API keys as a containment target (src/adapters/aws/api-keys.ts): a blocked principal that is an API Gateway API
     * key of this account and region is disabled while blocked and re-enabled when the block ends, only if cordon
     * disabled it. A disabled key refuses every caller that uses it, on every API and stage.
     */
    apiKeys: z
      .object({
        enabled: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    /** What cordon's WAF holds besides its address blocks. */
    waf: z
      .object({
        /**
         * Route-scoped blocks (src/contain/route-scope.ts), off by default. An address (or prefix) whose evidence is
         * confined to the login route (every finding a credential rule's: login-bruteforce, auth-failures, campaign,
         * and at least `minShare` of its window's requests POSTs to a login path) is blocked on that route only: its
         * POSTs to login paths are refused by a WAF rule over separate IP sets, the rest of the API still answers it.
         * For clients behind a shared NAT or proxy that must keep the API while one of them guesses passwords. The
         * route is the login paths cordon recognises (src/features/login-path.ts), not configurable: the evidence is
         * counted against exactly those paths, so the rule refuses what was seen and no more. A key that misbehaves
         * anywhere else is blocked in full, also when a route-scoped block of it is active. WAF only: route-scoped
         * blocks are in neither the resource policy nor the deny list, which cannot name a path.
         */
        routeScoped: z
          .object({
            enabled: z.boolean().default(false),
            /** Share of the window's requests that must be login POSTs (the rest: a page load, a token refresh). */
            minShare: z.number().gt(0).max(1).default(0.9),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    dryRun: z.boolean().default(false),
  })
  .strict()
  // The deny list has no routes: a route-scoped block would be enforced nowhere on the APIs it protects (HTTP APIs,
  // authorizers), yet reported as a block.
  .refine((c) => !(c.waf.routeScoped.enabled && c.denyList.enabled), {
    path: ['waf', 'routeScoped', 'enabled'],
    message: 'cannot be combined with denyList.enabled: the deny list cannot name a route, so a route-scoped block would hold nowhere it is the enforcement',
  });

export type CordonConfig = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    message: string,
    readonly issues: { path: string; message: string }[],
  ) {
    super(message);
  }
}

/** Validates a config object; throws a {@link ConfigError} naming each wrong field. */
export function parseConfig(input: unknown, source = 'config'): CordonConfig {
  const result = configSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({
    path: i.path.length ? i.path.join('.') : '(top level)',
    message: i.message,
  }));
  throw new ConfigError(
    `${source}: invalid configuration\n` + issues.map((i) => `  ${i.path}: ${i.message}`).join('\n'),
    issues,
  );
}

export function loadConfigFile(path: string): CordonConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${path}: cannot read config: ${(err as Error).message}`, [
      { path: '(file)', message: (err as Error).message },
    ]);
  }
  return parseConfig(raw, path);
}

export const defaultConfig = (): CordonConfig => parseConfig({});

export function ruleMode(cfg: CordonConfig, rule: RuleName): 'enforce' | 'count' | 'off' {
  return cfg.rules[rule] ?? 'enforce';
}

/**
 * A log replayed on a laptop has no account whose API keys could be disabled: the local runners contain without the
 * API-key target, so a key principal is announced as it would be without it (an alert, not enforced), not refused.
 */
export function withoutApiKeys(cfg: CordonConfig): CordonConfig {
  return cfg.apiKeys.enabled ? { ...cfg, apiKeys: { ...cfg.apiKeys, enabled: false } } : cfg;
}
