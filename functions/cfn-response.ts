import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';

/**
 * The answer of a custom resource function to CloudFormation (as cfn-response sends it; the deploy guard has its own
 * in infra/deploy-guard-handler.ts): a PUT of the response to the event's pre-signed ResponseURL.
 */

/** CloudFormation rejects responses over 4 KB: keep the reason well under it. */
export const MAX_REASON_CHARS = 3000;

export interface CfnResponse {
  Status: 'SUCCESS' | 'FAILED';
  Reason?: string;
  PhysicalResourceId: string;
  StackId: string;
  RequestId: string;
  LogicalResourceId: string;
  Data?: Record<string, string>;
}

export function cfnResponse(
  event: CloudFormationCustomResourceEvent,
  status: 'SUCCESS' | 'FAILED',
  physicalResourceId: string,
  reason?: string,
): CfnResponse {
  return {
    Status: status,
    ...(reason === undefined
      ? {}
      : { Reason: reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS - 40)}… (full text in the function's log)` : reason }),
    PhysicalResourceId: physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  };
}

/**
 * The answer of `work`, or `onTimeout()`'s once `budgetMs` has passed first: a custom resource must answer before its
 * invocation ends, or the stack waits an hour for it.
 */
export async function withinBudget<T>(work: Promise<T>, budgetMs: number, onTimeout: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), budgetMs);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** PUTs the response to the pre-signed URL (an empty content type, the exact length). */
export function sendCfnResponse(url: string, body: CfnResponse): Promise<void> {
  const text = JSON.stringify(body);
  const u = new URL(url);
  const request = u.protocol === 'http:' ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      { method: 'PUT', headers: { 'content-type': '', 'content-length': Buffer.byteLength(text) } },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode && res.statusCode < 300 ? resolve() : reject(new Error(`response PUT: HTTP ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}
