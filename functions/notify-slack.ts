import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context, SNSEvent } from 'aws-lambda';
import { parseNotifySlackEnv } from './env.ts';
import { createLoggers } from './logger.ts';
import { classifySnsMessage, slackMessageFor, webhookUrlFromSecret } from './sns-message.ts';

/**
 * Alert topic → Slack (Block Kit). The webhook URL is read from Secrets Manager once and cached; a non-2xx answer
 * from Slack throws, so the invocation is retried (and lands in the on-failure queue after the retries). Logs
 * carry counts and ids only: never the URL, never message contents.
 */

const env = parseNotifySlackEnv();
const { logger } = createLoggers('cordon-notify-slack', env.logLevel);
const secrets = new SecretsManagerClient({});
const SLACK_TIMEOUT_MS = 10_000;

let webhookUrl: Promise<string> | undefined;

function webhook(): Promise<string> {
  webhookUrl ??= secrets
    .send(new GetSecretValueCommand({ SecretId: env.slackSecretArn }))
    .then((res) => {
      if (typeof res.SecretString !== 'string') throw new Error('Slack secret has no string value');
      return webhookUrlFromSecret(res.SecretString);
    })
    .catch((err: unknown) => {
      webhookUrl = undefined; // a failed read is tried again on the next invocation
      throw err;
    });
  return webhookUrl;
}

export async function handler(event: SNSEvent, context: Context): Promise<void> {
  logger.addContext(context);
  for (const record of event.Records) {
    const messageId = record.Sns.MessageId;
    const payload = classifySnsMessage(record.Sns.Message);
    const message = slackMessageFor(payload);
    if (!message) {
      logger.warn('skipped message', { messageId, reason: payload.kind === 'unknown' ? payload.reason : payload.kind });
      continue;
    }
    const res = await fetch(await webhook(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(message),
      signal: AbortSignal.timeout(SLACK_TIMEOUT_MS),
    });
    if (!res.ok) {
      throw new Error(`Slack answered ${res.status} for SNS message ${messageId}`);
    }
    logger.info('posted to Slack', {
      messageId,
      kind: payload.kind,
      ...(payload.kind === 'batch' ? { batchId: payload.batch.id, decisions: payload.batch.decisions.length } : {}),
      blocks: message.blocks.length,
    });
  }
}
