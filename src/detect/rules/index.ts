import type { RuleName } from '../../config.ts';
import { attackPayload } from './attack-payload.ts';
import { authFailures } from './auth-failures.ts';
import { flood } from './flood.ts';
import { loginBruteforce } from './login-bruteforce.ts';
import { pathScan } from './path-scan.ts';
import { principalManyIps } from './principal-many-ips.ts';
import { principalVolume } from './principal-volume.ts';
import type { Rule } from './rule.ts';
import { scannerAgent } from './scanner-agent.ts';
import { serverErrors } from './server-errors.ts';
import { volumeAnomaly } from './volume-anomaly.ts';

export const RULES: readonly Rule[] = [flood, pathScan, authFailures, loginBruteforce, principalManyIps,
  principalVolume, volumeAnomaly, attackPayload, serverErrors, scannerAgent];

export const ruleByName = (name: RuleName): Rule | undefined => RULES.find((r) => r.name === name);
export type { Rule, RuleContext } from './rule.ts';
