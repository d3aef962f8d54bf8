import { Logger } from '@aws-lambda-powertools/logger';
import { METRIC, type LogFields, type Logger as StageLogger, type Metrics } from '../src/engine/observe.ts';
import type { LogLevel } from './env.ts';

/**
 * The Powertools logger of one function (structured JSON, Lambda context added per invocation), and the same
 * logger in the shape the stages take (`src/engine/observe.ts`). Stages and handlers log counts and ids, never
 * records. DEBUG and INFO lines go to stdout, WARN and ERROR to stderr (both land in the function's log group).
 *
 * @param serviceName the `service` key of every line: `cordon-ingest`, `cordon-detect`, `cordon-contain`,
 *   `cordon-notify-slack` (the POWERTOOLS_SERVICE_NAME infra/cordon-function.ts sets; the argument wins).
 * @param countErrors when given, every `stageLog.error` also adds 1 to `StageErrors` (the alarm on stage bugs), so
 *   the handler need not count them itself. Pass it, or count in the handler: not both.
 */
export function createLoggers(
  serviceName: string,
  logLevel: LogLevel,
  countErrors?: Metrics,
): { logger: Logger; stageLog: StageLogger } {
  const logger = new Logger({ serviceName, logLevel });
  const stageLog: StageLogger = {
    info: (message: string, fields?: LogFields) => logger.info(message, fields ?? {}),
    warn: (message: string, fields?: LogFields) => logger.warn(message, fields ?? {}),
    error: (message: string, fields?: LogFields) => {
      logger.error(message, fields ?? {});
      countErrors?.add(METRIC.StageErrors, 1, 'Count');
    },
  };
  return { logger, stageLog };
}
