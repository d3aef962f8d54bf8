/** `cordon simulate`: labelled demo traffic and the scorer that grades a run against its labels. */
export { generateTraffic, simulateEvents, writeTraffic, type GeneratedTraffic, type TrafficOptions } from './traffic.ts';
export { FORMATS, type TrafficFormat } from './formats.ts';
export {
  SCENARIOS, SCENARIO_NAMES, ScenarioParamError, resolveScenarioParams, type ScenarioParams,
} from './scenarios.ts';
export type { AttackerLabel, Labels, NotableLabel, Scenario } from './labels.ts';
export {
  formatScore, formatScoreDetails, parseDecisionLines, scoreDecisions, scoreFiles, type AttackerScore,
  type DecisionLike, type ScoreResult,
} from './score.ts';
