import { describe, expect, it } from 'vitest';
import { parseContainEnv, parseDetectEnv, parseIngestEnv } from '../../functions/env.ts';

/** The construct's DRY_RUN reaches every stage's config, so detect holds blocks itself (issue: dry run reached only contain). */
describe('DRY_RUN in every stage', () => {
  const detect = { STATE_TABLE: 's', STATE_BUCKET: 'b', LEDGER_TABLE: 'l' };

  it('detect and ingest read DRY_RUN into their config, ORed with the config file', () => {
    expect(parseDetectEnv({ ...detect, DRY_RUN: 'true' }).config.dryRun).toBe(true);
    expect(parseDetectEnv({ ...detect, DRY_RUN: 'false' }).config.dryRun).toBe(false);
    expect(parseDetectEnv({ ...detect, DRY_RUN: 'false', CORDON_CONFIG: '{"dryRun":true}' }).config.dryRun).toBe(true);
    expect(parseDetectEnv(detect).config.dryRun).toBe(false);
    expect(parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', DRY_RUN: 'true' }).config.dryRun).toBe(true);
    expect(parseIngestEnv({ SUMMARIES_STREAM_NAME: 'x', SUMMARY_WIRE_AUTO: '1', STATE_TABLE: 's', DRY_RUN: 'true' }).config.dryRun).toBe(true);
  });

  it('contain holds the switch in its config too, not only beside it', () => {
    const env = parseContainEnv({ STATE_TABLE: 's', LEDGER_TABLE: 'l', WAF_SCOPE: 'REGIONAL',
      IPSETS_V4: '[{"name":"a","id":"1"}]', IPSETS_V6: '[{"name":"b","id":"2"}]', REST_APIS: '[]',
      ALERT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:t', DRY_RUN: 'true' });
    expect(env.config.dryRun).toBe(true);
  });

  it('a malformed DRY_RUN fails detect at cold start, naming the variable', () => {
    expect(() => parseDetectEnv({ ...detect, DRY_RUN: 'yes' })).toThrow(/DRY_RUN/);
  });

  it('detect reads the function\'s memory, which the runtime sets, to size its baseline cache', () => {
    expect(parseDetectEnv({ ...detect, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '2048' }).memoryMb).toBe(2048);
    expect(parseDetectEnv(detect).memoryMb).toBeUndefined();
    expect(() => parseDetectEnv({ ...detect, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: 'lots' })).toThrow(/AWS_LAMBDA_FUNCTION_MEMORY_SIZE/);
  });
});
