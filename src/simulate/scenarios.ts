import {
  credentialStuffing, exfiltration, flood, ipv6RotatingScanner, scanner, stolenCredentials, subnetFlood,
} from './attacks.ts';
import type { TrafficBuilder } from './builder.ts';
import type { Scenario } from './labels.ts';
import { benign, crawler, diurnal, healthChecker, natGateway } from './population.ts';

export interface ScenarioSpec {
  describe: string;
  build: (b: TrafficBuilder, minutes: number) => void;
}

/** The clients every realistic hour has, including those easy to mistake for attackers. */
function everydayPopulation(b: TrafficBuilder, clients: number, natUsers: number): void {
  benign(b, { clients, shape: diurnal(b.t0) });
  natGateway(b, natUsers);
  crawler(b);
  healthChecker(b);
}

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
};

export const SCENARIO_NAMES = Object.keys(SCENARIOS) as Scenario[];
