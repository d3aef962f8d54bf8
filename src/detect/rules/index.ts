import { attackPayload } from './attack-payload.ts';
import { authFailures } from './auth-failures.ts';
import { campaign } from './campaign.ts';
import { enumeration } from './enumeration.ts';
import { flood } from './flood.ts';
import { loginBruteforce } from './login-bruteforce.ts';
import { pathScan } from './path-scan.ts';
import { principalManyIps } from './principal-many-ips.ts';
import { principalVolume } from './principal-volume.ts';
import { ramp } from './ramp.ts';
import type { Rule } from './rule.ts';
import { scannerAgent } from './scanner-agent.ts';
import { serverErrors } from './server-errors.ts';
import { trapRoute } from './trap-route.ts';
import { volumeAnomaly } from './volume-anomaly.ts';

/**
 * The rule registry: every behaviour rule, in the order the detector runs them. It is the one list of rules; the
 * rule names (the config's per-rule modes, findings, ledger reasons) are the names declared here.
 */
export const RULES = [flood, pathScan, authFailures, loginBruteforce, principalManyIps,
  principalVolume, volumeAnomaly, attackPayload, serverErrors, scannerAgent, trapRoute, enumeration, ramp, campaign] as const;

/** The name of a rule in the registry. */
export type RuleName = (typeof RULES)[number]['name'];

/** Every rule's name, in registry order. */
export const RULE_NAMES = RULES.map((r) => r.name) as readonly RuleName[] as readonly [RuleName, ...RuleName[]];

export const ruleByName = (name: RuleName): Rule | undefined => RULES.find((r) => r.name === name);
export type { Rule, RuleContext } from './rule.ts';
