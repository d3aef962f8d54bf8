import {
  credentialStuffing, exfiltration, flood, ipv6RotatingScanner, scanner, stolenCredentials, subnetFlood,
} from './attacks.ts';
import type { TrafficBuilder } from './builder.ts';
import type { ParamScenario, Scenario } from './labels.ts';
import {
  benign, crawler, diurnal, healthChecker, heavySdkUsers, loginUsers, natGateway, staleLinkClients,
} from './population.ts';
import {
  TRAP_ROUTES, credentialStuffingCampaign, ipv6PrefixHopper, objectEnumeration, rampingFlood, slowCredentialStuffing,
  slowScanner, trapToucher,
} from './slow-attacks.ts';

/** What a parameterised scenario's attacks run at; each scenario says what `rate` means for it. */
export interface ScenarioParams {
  rate?: number;
  /** Addresses of a campaign. */
  members?: number;
}

/** Every parameter a scenario may take, in the order they are listed. */
export const PARAM_NAMES: readonly (keyof ScenarioParams)[] = ['rate', 'members'];

/** One parameter a scenario takes: its default, its meaning, and what values it accepts beyond a positive number. */
export interface ParamSpec {
  default: number;
  describe: string;
  /** A whole number (a count). */
  integer?: boolean;
  /** Must be strictly above this (a growth factor above 1). */
  above?: number;
}

export interface ScenarioSpec {
  describe: string;
  /** `params` reach only the scenarios that take them (`params` below); without them, their defaults. */
  build: (b: TrafficBuilder, minutes: number, params?: ScenarioParams) => void;
  /** The parameters a scenario takes, with their defaults and meaning. */
  params?: { [K in keyof ScenarioParams]?: ParamSpec };
}

/** A parameter a scenario does not take, or a value it cannot run at: the operator's mistake, said plainly. */
export class ScenarioParamError extends Error {
  override name = 'ScenarioParamError';

  /** `param`: the parameter whose value is refused, when the message starts with its name. */
  constructor(message: string, readonly param?: keyof ScenarioParams) {
    super(message);
  }
}

/** The clients every realistic hour has, including those easy to mistake for attackers. */
function everydayPopulation(b: TrafficBuilder, clients: number, natUsers: number): void {
  benign(b, { clients, shape: diurnal(b.t0) });
  natGateway(b, natUsers);
  crawler(b);
  healthChecker(b);
}

/**
 * The everyday population plus what is easy to mistake for a slow attack: service accounts calling at high, constant
 * rates, users who mistype a password (some behind the NAT gateway), clients that follow a stale link.
 */
function slowAttackPopulation(b: TrafficBuilder): void {
  benign(b, { clients: 300, shape: diurnal(b.t0) });
  const nat = natGateway(b, 60);
  crawler(b);
  healthChecker(b);
  heavySdkUsers(b);
  loginUsers(b, 150, 0.35, nat, 10);
  staleLinkClients(b);
}

/**
 * The parameters `given` for `scenario`, checked: a parameter the scenario does not declare, or a value it cannot run
 * at, is a {@link ScenarioParamError} naming both. Returns the declared parameters with their defaults filled in.
 */
export function resolveScenarioParams(scenario: string, given: ScenarioParams | undefined): Record<string, number> {
  const spec = Object.hasOwn(SCENARIOS, scenario) ? SCENARIOS[scenario as Scenario] : undefined;
  if (!spec) throw new ScenarioParamError(`unknown scenario ${scenario}; known: ${SCENARIO_NAMES.join(', ')}`);
  const declared = spec.params ?? {};
  for (const [key, v] of Object.entries(given ?? {})) {
    if (v === undefined || Object.hasOwn(declared, key)) continue;
    const takes = Object.keys(declared);
    throw new ScenarioParamError(`scenario ${scenario} takes no parameter ${key}` +
      (takes.length ? ` (it takes ${takes.join(', ')})` : ` (only ${paramScenariosOf(key as keyof ScenarioParams).join(', ')} take it)`));
  }
  const out: Record<string, number> = {};
  for (const [key, p] of Object.entries(declared) as [keyof ScenarioParams, ParamSpec][]) {
    const v = given?.[key] ?? p.default;
    const refuse = (why: string) => new ScenarioParamError(`${key} ${why}, got ${v}`, key);
    if (!(Number.isFinite(v) && v > 0)) throw refuse('must be a positive number');
    if (p.integer && !Number.isInteger(v)) throw refuse(`of scenario ${scenario} must be a whole number`);
    if (p.above !== undefined && !(v > p.above)) throw refuse(`of scenario ${scenario} must be above ${p.above}`);
    out[key] = v;
  }
  return out;
}

/** The scenarios that take parameter `key`. */
export function paramScenariosOf(key: keyof ScenarioParams): Scenario[] {
  return SCENARIO_NAMES.filter((name) => SCENARIOS[name].params && Object.hasOwn(SCENARIOS[name].params!, key));
}

/** Resolves the parameters of a parameterised scenario and records them in the labels (what the traffic ran at). */
function resolveParams(b: TrafficBuilder, scenario: ParamScenario, given: ScenarioParams | undefined): Record<string, number> {
  const out = resolveScenarioParams(scenario, given);
  b.labels.params = out;
  return out;
}

const PARAM_SCENARIOS: Record<ParamScenario, ScenarioSpec> = {
  'low-and-slow': {
    describe: 'Slow scanner, slow credential stuffing, object enumeration by a signed-in user and an IPv6 /64 hopper, ' +
      'each under every per-minute threshold at its default rate (60-90 minutes).',
    params: {
      rate: {
        default: 4,
        describe: 'scanner paths and stuffing attempts a minute (±1); enumeration runs at max(3, 1.5 x rate), the hopper at 10 x rate',
      },
    },
    build(b, m, params) {
      const { rate } = resolveParams(b, 'low-and-slow', params);
      slowAttackPopulation(b);
      slowCredentialStuffing(b, 0, m, rate);
      slowScanner(b, Math.round(m * 0.12), Math.round(m * 0.75), rate);
      objectEnumeration(b, Math.round(m * 0.25), Math.round(m * 0.45), Math.max(3, Math.round(rate * 1.5)));
      ipv6PrefixHopper(b, Math.round(m * 0.4), Math.round(m * 0.5), rate * 10);
    },
  },
  campaign: {
    describe: 'Credential stuffing from many addresses in unrelated /16s, each trying a few passwords a minute on /login.',
    params: {
      rate: { default: 3, describe: 'attempts a minute by each member (±1)' },
      members: { default: 40, describe: 'addresses in the campaign, each in its own /16', integer: true },
    },
    build(b, m, params) {
      const { rate, members } = resolveParams(b, 'campaign', params);
      slowAttackPopulation(b);
      credentialStuffingCampaign(b, Math.round(m * 0.35), Math.round(m * 0.5), members, rate);
    },
  },
  ramp: {
    describe: 'One address that starts at 10 requests a minute and grows by a constant factor a minute up to 3000.',
    params: { rate: { default: 1.3, describe: 'growth factor a minute (above 1)', above: 1 } },
    build(b, m, params) {
      const { rate } = resolveParams(b, 'ramp', params);
      slowAttackPopulation(b);
      rampingFlood(b, Math.round(m * 0.25), rate);
    },
  },
  trap: {
    describe: `Three ordinary-looking clients that each touch a decoy route (${TRAP_ROUTES.join(', ')}); ` +
      'configure them as trapRoutes.',
    params: { rate: { default: 1, describe: 'touches of the decoy by each client (a whole number)', integer: true } },
    build(b, m, params) {
      const { rate } = resolveParams(b, 'trap', params);
      slowAttackPopulation(b);
      [0.3, 0.5, 0.7].forEach((at, i) => trapToucher(b, Math.round(m * at), TRAP_ROUTES[i % TRAP_ROUTES.length], rate));
    },
  },
};

export const SCENARIOS: Record<Scenario, ScenarioSpec> = {
  mixed: {
    describe: 'Benign population with a NAT gateway, a crawler and health checks, and six kinds of attack.',
    build: (b, m) => {
      everydayPopulation(b, 1500, 120);
      scanner(b, m * 0.15, 6);
      flood(b, m * 0.3, 5);
      credentialStuffing(b, m * 0.45, 8);
      subnetFlood(b, m * 0.6, 6);
      ipv6RotatingScanner(b, m * 0.7, 5);
      scanner(b, m * 0.8, 8, 40);
    },
  },
  benign: {
    describe: 'No attacks at all: every block is a false positive.',
    build: (b) => everydayPopulation(b, 2000, 200),
  },
  'flash-crowd': {
    describe: "A marketing launch lifts every client's rate fivefold for ten minutes; one flood hides inside it.",
    build: (b, m) => {
      benign(b, { clients: 1500, shape: diurnal(b.t0, { startMin: m * 0.4, endMin: m * 0.4 + 10, factor: 5 }) });
      natGateway(b, 100);
      flood(b, m * 0.4 + 2, 5, 4000);
    },
  },
  'stolen-credentials': {
    describe: 'Benign population; leaked IAM keys used from 36 addresses, then a principal exfiltrating at 20x its usual volume.',
    build: (b, m) => {
      everydayPopulation(b, 1500, 120);
      stolenCredentials(b, m * 0.3, 4);
      exfiltration(b, m * 0.55, 8);
    },
  },
  lookalikes: {
    describe: 'No attacks: the everyday population and the clients easiest to mistake for slow attackers (heavy SDK users, ' +
      'mistyped passwords, stale links); every block is a false positive.',
    build: (b) => slowAttackPopulation(b),
  },
  ...PARAM_SCENARIOS,
};

export const SCENARIO_NAMES = Object.keys(SCENARIOS) as Scenario[];
