/**
 * A progress bar on stderr, drawn only when stderr is a terminal (never into a pipe or a CI log), at most a few
 * times a second.
 */
export class ProgressBar {
  private last = 0;
  private drawn = false;
  private readonly started = Date.now();
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr, private readonly enabled = stream.isTTY === true) {}

  update(done: number, total: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 200 && done < total) return;
    this.last = now;
    const share = total > 0 ? Math.min(done / total, 1) : 0;
    const width = 30;
    const filled = Math.round(share * width);
    const mbps = done / 1e6 / Math.max((now - this.started) / 1000, 0.001);
    this.stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)}%  ${(done / 1e6).toFixed(1)}/${(total / 1e6).toFixed(1)} MB  ${mbps.toFixed(1)} MB/s`);
    this.drawn = true;
  }

  /** Clears the bar so the next line prints cleanly. */
  clear(): void {
    if (this.drawn) this.stream.write('\r\x1b[2K');
    this.drawn = false;
  }
}
