/** The ground truth written beside simulated traffic: the same JSON shape as apitraffic.py's labels file. */

/** Scenarios whose attacks take parameters (a rate), see ScenarioParams in scenarios.ts. */
export type ParamScenario = 'low-and-slow' | 'campaign' | 'ramp' | 'trap';

/** A scenario name; a parameterised one's parameters are given beside it (TrafficOptions.params) and labelled. */
export type Scenario = 'mixed' | 'benign' | 'flash-crowd' | 'stolen-credentials' | 'lookalikes' | ParamScenario;

export interface AttackerLabel {
  kind: string;
  /** Every address the attacker used. */
  ips: string[];
  /** The principal key (userArn, else principalId, else apiKeyId) when the attack rides on credentials. */
  principal: string | null;
  /** Attack window, epoch ms. */
  start: number;
  end: number;
  /** The attacker's network when it rotates addresses within one (subnet flood /24, IPv6 /64). */
  prefix?: string;
}

/** A benign client that is easy to mistake for an attacker (NAT, crawler, health checker, ...). */
export interface NotableLabel {
  kind: string;
  ips: string[];
  [detail: string]: unknown;
}

export interface Labels {
  scenario: Scenario | string | null;
  seed: number;
  /** Traffic window, epoch ms. */
  start: number;
  end: number;
  attackers: AttackerLabel[];
  benign_notable: NotableLabel[];
  /** CIDRs that must never be blocked. */
  allowlist: string[];
  benign_ips: number;
  benign_principals: number;
  requests?: number;
  /** The parameters a parameterised scenario ran with, defaults filled in (absent for the others). */
  params?: Record<string, number>;
}
