import type { DynamoDBStreamEvent } from 'aws-lambda';
import type { LedgerKey } from '../src/ports.ts';

/**
 * The ledger entries a stream batch reports written (inserted or modified; a TTL delete has nothing to enforce).
 * contain reads them from the table itself: the status index it reads otherwise may lag a moment behind.
 */
export function writtenKeys(event: DynamoDBStreamEvent): LedgerKey[] {
  const keys: LedgerKey[] = [];
  for (const r of event.Records) {
    if (r.eventName === 'REMOVE') continue;
    const target = r.dynamodb?.Keys?.pk?.S;
    const createdAt = Number(r.dynamodb?.Keys?.sk?.N);
    if (target && Number.isFinite(createdAt)) keys.push({ target, createdAt });
  }
  return keys;
}
