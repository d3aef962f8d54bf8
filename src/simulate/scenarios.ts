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

export interface ScenarioSpec {
  describe: string;
  /** `params` reach only the scenarios that take them (`params` below); without them, their defaults. */
  build: (b: TrafficBuilder, minutes: number, params?: ScenarioParams) => void;
  /** The parameters a scenario takes, with their defaults and meaning. */
  params?: { [K in keyof ScenarioParams]?: { default: number; describe: string } };
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
 * The parameters a scenario declares, its defaults filled in, recorded in the labels (so a reader knows what rate the
 * traffic ran at); nonsense is refused.
 */
function resolveParams(b: TrafficBuilder, spec: ScenarioSpec, given: ScenarioParams | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, p] of Object.entries(spec.params ?? {})) {
    const v = given?.[key as keyof ScenarioParams] ?? p.default;
    if (!(Number.isFinite(v) && v > 0)) throw new Error(`${key} must be a positive number, got ${v}`);
    out[key] = v;
  }
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
      const { rate } = resolveParams(b, PARAM_SCENARIOS['low-and-slow'], params);
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
      members: { default: 40, describe: 'addresses in the campaign, each in its own /16' },
    },
    build(b, m, params) {
      const { rate, members } = resolveParams(b, PARAM_SCENARIOS.campaign, params);
      slowAttackPopulation(b);
      credentialStuffingCampaign(b, Math.round(m * 0.35), Math.round(m * 0.5), Math.round(members), rate);
    },
  },
  ramp: {
    describe: 'One address that starts at 10 requests a minute and grows by a constant factor a minute up to 3000.',
    params: { rate: { default: 1.3, describe: 'growth factor a minute (above 1)' } },
    build(b, m, params) {
      const { rate } = resolveParams(b, PARAM_SCENARIOS.ramp, params);
      slowAttackPopulation(b);
      rampingFlood(b, Math.round(m * 0.25), rate);
    },
  },
  trap: {
    describe: `Three ordinary-looking clients that each touch a decoy route (${TRAP_ROUTES.join(', ')}); ` +
      'configure them as trapRoutes.',
    params: { rate: { default: 1, describe: 'touches of the decoy by each client (a whole number)' } },
    build(b, m, params) {
      const { rate } = resolveParams(b, PARAM_SCENARIOS.trap, params);
      slowAttackPopulation(b);
      [0.3, 0.5, 0.7].forEach((at, i) => trapToucher(b, Math.round(m * at), TRAP_ROUTES[i % TRAP_ROUTES.length], Math.round(rate)));
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
  ...PARAM_SCENARIOS,
};

export const SCENARIO_NAMES = Object.keys(SCENARIOS) as Scenario[];

/**
 * A parameterised variant of a scenario, e.g. `low-and-slow(rate=2)`, registered so that writeTraffic and
 * simulateEvents generate it like any scenario (they pass no parameters themselves). Not enumerable: the CLI's choices
 * and SCENARIO_NAMES keep listing the base scenarios only.
 */
export function scenarioVariant(base: ParamScenario, params: ScenarioParams): Scenario {
  const spec = PARAM_SCENARIOS[base];
  const given = Object.entries(params).filter(([, v]) => v !== undefined);
  for (const [key] of given) {
    if (!spec.params || !Object.hasOwn(spec.params, key)) {
      throw new Error(`${base} takes no parameter ${key}`);
    }
  }
  const name: Scenario = `${base}(${given.map(([k, v]) => `${k}=${v}`).join(',')})`;
  if (!Object.hasOwn(SCENARIOS, name)) {
    const variant: ScenarioSpec = { ...spec, build: (b, m) => spec.build(b, m, params) };
    Object.defineProperty(SCENARIOS, name, { value: variant, enumerable: false });
  }
  return name;
}
