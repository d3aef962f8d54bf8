import { Logger } from '@aws-lambda-powertools/logger';
import type { Logger as StageLogger } from '../src/pipeline/stages.ts';
import type { LogLevel } from './env.ts';

/**
 * The Powertools logger of one function (structured JSON, Lambda context added per invocation), and the same
 * logger in the shape the stages take. Stages and handlers log counts and ids, never records.
 */
export function createLoggers(serviceName: string, logLevel: LogLevel): { logger: Logger; stageLog: StageLogger } {
  const logger = new Logger({ serviceName, logLevel });
  const stageLog: StageLogger = {
    info: (message, fields) => logger.info(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
  };
  return { logger, stageLog };
}
