import type { AlertBatch } from '../src/ports.ts';
import { escapeSlackControl, escapeSlackMrkdwn, safeText } from '../src/render/escape.ts';
import { renderSlackMessage, type SlackMessage } from '../src/render/slack.ts';

/**
 * What arrives on the alert topic, and how each kind becomes a Slack message. Two kinds share the topic:
 * cordon's decision batches (published by contain, rendered by `renderSlackMessage`) and CloudWatch alarm
 * notifications (the construct routes its alarms there too). Anything else is reported as unknown, not posted.
 */

export type SnsPayload =
  | { kind: 'batch'; batch: AlertBatch }
  | { kind: 'alarm'; alarm: CloudWatchAlarmMessage }
  | { kind: 'unknown'; reason: string };

/** The fields of a CloudWatch alarm notification that the message shows. */
export interface CloudWatchAlarmMessage {
  AlarmName: string;
  AlarmDescription?: string | null;
  NewStateValue: string;
  OldStateValue?: string;
  NewStateReason?: string;
  StateChangeTime?: string;
  Region?: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Classifies one SNS message body. Never throws. */
export function classifySnsMessage(message: string): SnsPayload {
  let body: unknown;
  try {
    body = JSON.parse(message);
  } catch {
    return { kind: 'unknown', reason: 'not JSON' };
  }
  if (!isRecord(body)) return { kind: 'unknown', reason: 'not a JSON object' };
  if (typeof body.id === 'string' && Array.isArray(body.decisions)) {
    return { kind: 'batch', batch: body as unknown as AlertBatch };
  }
  if (typeof body.AlarmName === 'string' && typeof body.NewStateValue === 'string') {
    return { kind: 'alarm', alarm: body as unknown as CloudWatchAlarmMessage };
  }
  return { kind: 'unknown', reason: 'neither a decision batch nor a CloudWatch alarm' };
}

const STATE_EMOJI: Record<string, string> = { ALARM: ':red_circle:', OK: ':large_green_circle:', INSUFFICIENT_DATA: ':white_circle:' };

/** A CloudWatch alarm notification as a short Block Kit message. Every value is escaped and bounded. */
export function renderAlarmMessage(a: CloudWatchAlarmMessage): SlackMessage {
  const state = safeText(a.NewStateValue, 20);
  const emoji = STATE_EMOJI[state] ?? ':grey_question:';
  const title = escapeSlackControl(safeText(`cordon alarm ${state}: ${a.AlarmName}`, 150));
  const lines = [
    `${emoji} *${escapeSlackControl(state)}* ${escapeSlackMrkdwn(a.AlarmName, 200)}` +
      (a.OldStateValue ? ` (was ${escapeSlackControl(safeText(a.OldStateValue, 20))})` : ''),
  ];
  if (a.AlarmDescription) lines.push(escapeSlackControl(safeText(a.AlarmDescription, 500)));
  if (a.NewStateReason) lines.push(`_${escapeSlackControl(safeText(a.NewStateReason, 1000))}_`);
  const context = [a.Region, a.StateChangeTime].filter((x): x is string => typeof x === 'string' && x !== '');
  return {
    text: title,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: safeText(`cordon alarm ${state}`, 150), emoji: true } },
      { type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } },
      ...(context.length
        ? [{ type: 'context', elements: [{ type: 'mrkdwn', text: escapeSlackControl(safeText(context.join(' · '), 300)) }] }]
        : []),
    ],
  };
}

/** The Slack message for a classified payload, or undefined for an unknown one. */
export function slackMessageFor(payload: SnsPayload): SlackMessage | undefined {
  if (payload.kind === 'batch') return renderSlackMessage(payload.batch);
  if (payload.kind === 'alarm') return renderAlarmMessage(payload.alarm);
  return undefined;
}

/**
 * The webhook URL from the secret's value: either the URL itself or JSON with `webhookUrl` (or `url`). Only an
 * https URL is accepted; the value is never logged.
 */
export function webhookUrlFromSecret(secret: string): string {
  let candidate = secret.trim();
  if (candidate.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(candidate);
    } catch {
      throw new Error('Slack secret: value looks like JSON but does not parse');
    }
    const obj = isRecord(parsed) ? parsed : {};
    const value = obj.webhookUrl ?? obj.url;
    if (typeof value !== 'string') throw new Error('Slack secret: JSON value has no "webhookUrl" (or "url") string');
    candidate = value.trim();
  }
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    throw new Error('Slack secret: value is not a URL');
  }
  if (url.protocol !== 'https:') throw new Error('Slack secret: webhook URL must use https');
  return url.toString();
}
