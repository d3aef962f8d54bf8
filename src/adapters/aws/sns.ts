import { PublishCommand, type MessageAttributeValue, type SNSClient } from '@aws-sdk/client-sns';
import type { Decision } from '../../decision.ts';
import type { AlertBatch, AlertPort } from '../../ports.ts';
import { AlertTooLargeError } from './errors.ts';

/** SNS's limit for one message, body and attributes together. */
export const SNS_MAX_MESSAGE_BYTES = 256 * 1024;
const SUBJECT_MAX = 100;

/** What one SNS message carries: a whole batch, or one part of a batch too large for one message. */
export interface AlertMessage {
  /** The batch id: the same for every part; consumers de-duplicate on (id, part). */
  id: string;
  part: number;
  parts: number;
  time: string;
  page: boolean;
  /** Decisions in this part, by action. */
  counts: Record<string, number>;
  decisions: Decision[];
}

export interface SnsAlertAdapterOptions {
  /** Byte budget per message (body + attributes). Default and maximum 256 KiB. */
  maxMessageBytes?: number;
}

/**
 * {@link AlertPort} over SNS: one Publish per alert batch (never one per IP). The message is the batch as JSON
 * (every string escaped by JSON.stringify), with the subject a short ASCII summary (≤ 100 characters) and message
 * attributes `page` ("true"/"false", for subscription filter policies), `batchId` and `part`.
 *
 * A batch larger than the 256 KiB message limit is split across several messages, each still a batch of many
 * decisions with `part`/`parts` and the same `id`. A single decision too large for a message on its own is an
 * {@link AlertTooLargeError}. Publish errors are thrown (after the SDK's own retries), never swallowed.
 */
export class SnsAlertAdapter implements AlertPort {
  private readonly maxBytes: number;
  /** Publish calls made. */
  published = 0;

  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
    opts: SnsAlertAdapterOptions = {},
  ) {
    this.maxBytes = Math.min(opts.maxMessageBytes ?? SNS_MAX_MESSAGE_BYTES, SNS_MAX_MESSAGE_BYTES);
  }

  async publish(batch: AlertBatch): Promise<void> {
    for (const m of this.messages(batch)) {
      await this.client.send(
        new PublishCommand({ TopicArn: this.topicArn, Subject: m.subject, Message: m.body, MessageAttributes: m.attributes }),
      );
      this.published++;
    }
  }

  /** The messages a batch becomes (exposed for tests and dry runs). */
  messages(batch: AlertBatch): { subject: string; body: string; attributes: Record<string, MessageAttributeValue> }[] {
    const groups = this.split(batch);
    return groups.map((decisions, i) => {
      const msg: AlertMessage = {
        id: batch.id,
        part: i + 1,
        parts: groups.length,
        time: batch.time,
        page: batch.page,
        counts: countByAction(decisions),
        decisions,
      };
      const body = JSON.stringify(msg);
      const attributes = attributesFor(batch, i + 1);
      const total = Buffer.byteLength(body, 'utf8') + attributeBytes(attributes);
      if (total > this.maxBytes) {
        // Only reachable with a single decision larger than a message: split() packs everything else below.
        throw new AlertTooLargeError(
          `alert batch ${batch.id} part ${i + 1}: ${total} bytes exceed the ${this.maxBytes}-byte SNS limit with ${decisions.length} decision(s)`,
          'sns',
          'Publish',
          { batchId: batch.id, part: i + 1, bytes: total, decisions: decisions.length },
        );
      }
      return { subject: subjectFor(msg), body, attributes };
    });
  }

  /** Decisions grouped greedily (in order) so that each group's message fits the byte budget. */
  private split(batch: AlertBatch): Decision[][] {
    const envelope: AlertMessage = {
      id: batch.id,
      part: 99_999,
      parts: 99_999,
      time: batch.time,
      page: batch.page,
      counts: { block: 99_999, alert: 99_999, unblock: 99_999 },
      decisions: [],
    };
    const overhead = Buffer.byteLength(JSON.stringify(envelope), 'utf8') + attributeBytes(attributesFor(batch, 99_999));
    const budget = this.maxBytes - overhead;
    const groups: Decision[][] = [];
    let cur: Decision[] = [];
    let used = 0;
    for (const d of batch.decisions) {
      const n = Buffer.byteLength(JSON.stringify(d), 'utf8') + 1; // + the comma
      if (cur.length > 0 && used + n > budget) {
        groups.push(cur);
        cur = [];
        used = 0;
      }
      cur.push(d);
      used += n;
    }
    if (cur.length > 0 || groups.length === 0) groups.push(cur);
    return groups;
  }
}

function countByAction(decisions: Decision[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const d of decisions) counts[d.action] = (counts[d.action] ?? 0) + 1;
  return counts;
}

function attributesFor(batch: AlertBatch, part: number): Record<string, MessageAttributeValue> {
  return {
    page: { DataType: 'String', StringValue: batch.page ? 'true' : 'false' },
    batchId: { DataType: 'String', StringValue: batch.id },
    part: { DataType: 'Number', StringValue: String(part) },
  };
}

/** SNS counts each attribute's name, type and value towards the message size. */
function attributeBytes(attrs: Record<string, MessageAttributeValue>): number {
  let n = 0;
  for (const [name, v] of Object.entries(attrs)) {
    n += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(v.DataType ?? '', 'utf8') + Buffer.byteLength(v.StringValue ?? '', 'utf8');
  }
  return n;
}

/** ASCII, at most 100 characters, no line breaks: counts only, never attacker-controlled text. */
export function subjectFor(m: Pick<AlertMessage, 'page' | 'counts' | 'part' | 'parts'>): string {
  const counts = ['block', 'alert', 'unblock']
    .filter((a) => m.counts[a])
    .map((a) => `${m.counts[a]} ${a}`)
    .join(', ');
  let s = `${m.page ? '[PAGE] ' : ''}cordon: ${counts || 'no decisions'}`;
  if (m.parts > 1) s += ` (part ${m.part}/${m.parts})`;
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, SUBJECT_MAX);
}
