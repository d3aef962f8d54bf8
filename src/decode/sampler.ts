import type { Unreadable } from '../events.ts';

/** Per reason within one file: keeps the samples varied when one reason dominates. */
const MAX_SAME_REASON_PER_FILE = 2;

/**
 * Keeps a few unreadable records for the operator: at most `maxSamples` overall and a fair share per file, no
 * more than two of one reason per file.
 */
export class Sampler {
  readonly samples: Unreadable[] = [];
  private readonly perFile: number;
  private fileCount = 0;
  private fileReasons = new Map<string, number>();

  constructor(
    private readonly maxSamples: number,
    files: number,
  ) {
    this.perFile = Math.max(5, Math.ceil(maxSamples / Math.max(1, files)));
  }

  startFile(): void {
    this.fileCount = 0;
    this.fileReasons = new Map();
  }

  offer(u: Unreadable): void {
    if (this.samples.length >= this.maxSamples || this.fileCount >= this.perFile) return;
    const sameReason = this.fileReasons.get(u.reason) ?? 0;
    if (sameReason >= MAX_SAME_REASON_PER_FILE) return;
    this.fileReasons.set(u.reason, sameReason + 1);
    this.fileCount++;
    this.samples.push(u);
  }
}
