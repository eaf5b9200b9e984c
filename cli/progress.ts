import type { AuditWatcher } from '../shared/usecases/audit';
import type { Output } from './io';

/**
 * The audit's progress on stderr: on a terminal one line redrawn in place with the counts and, once discovery has
 * ended, an ETA from the pace so far; elsewhere (a pipeline's log) a plain line per discovered page and one at the end.
 */
export class AuditProgress implements AuditWatcher {
  private found = 0;
  private pages = 0;
  private judgedCount = 0;
  private reads = 0;
  private discovering = true;
  private drawnAt = Number.NEGATIVE_INFINITY;
  private readonly started: number;

  constructor(
    private readonly out: Output,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
  }

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  discovered(accounts: number): void {
    this.found += accounts;
    this.pages += 1;
    if (this.tty) this.draw();
    else this.out.write(`discovery: page ${this.pages}, ${this.found} CMK-bound accounts so far\n`);
  }

  discoveryDone(): void {
    this.discovering = false;
    if (this.tty) this.draw(true);
    else this.out.write(`discovery: done, ${this.found} CMK-bound accounts\n`);
  }

  judged(): void {
    this.judgedCount += 1;
    if (this.tty) this.draw();
  }

  keyRead(): void {
    this.reads += 1;
    if (this.tty) this.draw();
  }

  /** The last line: what was read, and how long it took. */
  finish(): void {
    const seconds = ((this.now() - this.started) / 1000).toFixed(1);
    const line = `read ${this.found} accounts (${this.judgedCount} judged), ${this.reads} Key Vault reads in ${seconds} s`;
    this.out.write(this.tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
  }

  /** The status line, at most ten times a second. */
  private draw(force = false): void {
    const at = this.now();
    if (!force && at - this.drawnAt < 100) return;
    this.drawnAt = at;
    const phase = this.discovering ? 'discovering' : 'judging';
    const parts = [`${phase}: ${this.found} accounts found`, `${this.judgedCount} judged`, `${this.reads} Key Vault reads`];
    const eta = this.eta(at);
    if (eta !== undefined) parts.push(`ETA ${eta} s`);
    const line = parts.join(', ');
    const width = this.out.columns ?? 80;
    this.out.write(`\r\x1b[2K${line.slice(0, Math.max(10, width - 1))}`);
  }

  /** Seconds left at the pace so far; known only once discovery has ended (before that the total is not). */
  private eta(at: number): number | undefined {
    if (this.discovering || this.judgedCount === 0) return undefined;
    const perAccount = (at - this.started) / this.judgedCount;
    return Math.ceil((Math.max(0, this.found - this.judgedCount) * perAccount) / 1000);
  }
}
