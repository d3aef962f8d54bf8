import { realSleep, type Sleep } from './retry.ts';

/**
 * Spaces writes out to at most one per `minIntervalMs`, for AWS control-plane quotas that the SDK's retries would
 * only meet by failing: WAF's one Create/Put/Update per second per account and region (shared with the console and
 * CloudFormation), API Gateway's one CreateDeployment per 5 s per account. Share one pacer per quota in a process.
 */
export class WritePacer {
  private next = 0;

  constructor(
    private readonly minIntervalMs = 1_000,
    private readonly now: () => number = Date.now,
    private readonly sleep: Sleep = realSleep,
  ) {}

  /** Resolves when the caller may write; reserves that slot. */
  async wait(): Promise<void> {
    const now = this.now();
    const at = Math.max(now, this.next);
    this.next = at + this.minIntervalMs;
    if (at > now) await this.sleep(at - now);
  }
}

