/**
 * How long this process's recent encryption updates took, so the first poll of the next one comes when it is
 * likely done: ARM sends no Retry-After for these operations, and every poll spends the read bucket that
 * binds a large rotation. The first wait is the 90th percentile of the last ten updates, never shorter than
 * the poll interval; an update found done at its first poll counts a fifth shorter, so the wait follows
 * updates that get faster as well as slower (simulated: 1.5-1.7 polls per update where a fixed 5 s poll
 * needs one per 5 s of the update).
 */
export class OperationDurations {
  private readonly recent: number[] = [];

  constructor(
    private readonly pollMs: number,
    private readonly maxMs = 120_000,
    private readonly window = 10,
  ) {}

  /** The wait before the first poll of an operation that just started. */
  firstWait(): number {
    if (!this.recent.length) return this.pollMs;
    const sorted = [...this.recent].sort((a, b) => a - b);
    const p90 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))] ?? this.pollMs;
    return Math.min(this.maxMs, Math.max(this.pollMs, Math.round(p90)));
  }

  /** An operation ended `elapsedMs` after it started; `firstPoll` when the first poll already saw it end. */
  observe(elapsedMs: number, firstPoll: boolean): void {
    this.recent.push(firstPoll ? elapsedMs * 0.8 : elapsedMs);
    if (this.recent.length > this.window) this.recent.shift();
  }
}
