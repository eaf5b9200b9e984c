import { accountKey } from '../domain/accounts';
import { verdictUnchanged, type Finding } from '../domain/findings';
import type { AccountKeyRange, FindingStore, StoredVerdicts } from '../ports';

/** Ranges of stored verdicts still being read before judging waits for the oldest (memory stays a few pages). */
const RANGES_AHEAD = 2;

/**
 * A sweep's findings writes, compared with the stored verdicts read one key range per page. Discovery answers in
 * account order, so what a page needs is the range from where the last one ended to its own last account key; it
 * is read while the page is judged, and the page's writes wait for it. Rows read for accounts not judged yet stay
 * until their account comes (discovery's order and the store's can differ) or the run ends: then they are the
 * verdicts of accounts no longer found, and leftOver() adds the rows past the last page. Memory holds a few ranges
 * and the keys of the accounts seen, not every verdict. A failed read or write fails the sweep at settle().
 */
export class VerdictWriter {
  /** Every account the run has seen (judged or not): their rows are never left over. */
  readonly seen = new Set<string>();
  private readonly unmatched: StoredVerdicts = new Map();
  /** Where the ranges read so far end (undefined: nothing read yet). */
  private end: string | undefined;
  /** Every range read so far, in order: a page's writes wait for its range and those before it. */
  private read: Promise<void> = Promise.resolve();
  private readonly unfinished: Array<Promise<void>> = [];
  private readonly waiting: Array<Promise<void>> = [];

  constructor(
    private readonly findings: Pick<FindingStore, 'verdicts' | 'replaceForAccount'>,
    private readonly sweep: { sweepId: string; observedAt: string },
  ) {}

  /** Before a page is judged: starts reading the stored rows up to its last account; waits rather than have more than RANGES_AHEAD unread. */
  async beforePage(accountKeys: readonly string[]): Promise<void> {
    let last: string | undefined;
    for (const key of accountKeys) {
      this.seen.add(key);
      if (last === undefined || key > last) last = key;
    }
    if (last !== undefined && (this.end === undefined || last > this.end)) {
      this.extend({ after: this.end, upTo: last });
      this.end = last;
    }
    while (this.unfinished.length > RANGES_AHEAD) await this.unfinished.shift();
  }

  /** Writes the account's findings where they differ from what is stored, once its range is read. */
  async record(accountId: string, findings: Finding[]): Promise<void> {
    const write = this.read.then(async () => {
      const key = accountKey(accountId);
      const stored = this.unmatched.get(key);
      this.unmatched.delete(key);
      if (!verdictUnchanged(stored, findings)) await this.findings.replaceForAccount(accountId, findings, this.sweep.sweepId, this.sweep.observedAt, stored ?? new Map());
    });
    write.catch(() => undefined);
    this.waiting.push(write);
  }

  /** After a complete discovery: the stored rows of accounts the run did not see, the rows past its last page included. */
  async leftOver(): Promise<StoredVerdicts> {
    this.extend({ after: this.end });
    await this.settle();
    return new Map([...this.unmatched].filter(([key]) => !this.seen.has(key)));
  }

  /** Every read and waiting write done; the first failure is thrown. */
  async settle(): Promise<void> {
    const failed = (await Promise.allSettled([this.read, ...this.waiting])).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    this.waiting.length = 0;
    if (failed) throw failed.reason;
  }

  private extend(range: AccountKeyRange): void {
    const rows = this.findings.verdicts(range);
    const previous = this.read;
    this.read = Promise.all([previous, rows]).then(([, verdicts]) => {
      for (const [key, codes] of verdicts) {
        // Before the range by our order but in it by the store's (only where they differ): an account already
        // judged with what was known then, whose rows are left as they are.
        if (range.after !== undefined && key <= range.after && this.seen.has(key)) continue;
        this.unmatched.set(key, codes);
      }
    });
    this.read.catch(() => undefined);
    this.unfinished.push(this.read);
  }
}
