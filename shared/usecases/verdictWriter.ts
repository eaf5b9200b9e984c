import { accountKey } from '../domain/accounts';
import { verdictUnchanged, type Finding } from '../domain/findings';
import type { FindingStore, StoredVerdicts } from '../ports';

/** Pages judged before the stored verdicts have arrived; past this, judging waits for them (memory stays a few pages). */
const PAGES_AHEAD = 2;

/**
 * A sweep's findings writes, compared with the stored verdicts. Those are read while the first pages are judged:
 * until they arrive, an account's findings wait here (at most PAGES_AHEAD pages of them) and are written once
 * they can be compared; after, each is compared and written at once. A failed write fails the sweep at settle().
 */
export class VerdictWriter {
  private verdicts: StoredVerdicts | undefined;
  private readonly waiting: Array<Promise<void>> = [];
  private pagesAhead = 0;

  constructor(
    private readonly findings: Pick<FindingStore, 'replaceForAccount'>,
    private readonly stored: Promise<StoredVerdicts>,
    private readonly sweep: { sweepId: string; observedAt: string },
  ) {
    stored.then((v) => (this.verdicts = v), () => undefined);
  }

  /** Before a page is judged: waits for the stored verdicts once enough pages are ahead of them. */
  async beforePage(): Promise<void> {
    if (this.verdicts) return;
    if (this.pagesAhead >= PAGES_AHEAD) await this.storedVerdicts();
    else this.pagesAhead += 1;
  }

  /** Writes the account's findings where they differ from what is stored (now, or once the stored verdicts are in). */
  async record(accountId: string, findings: Finding[]): Promise<void> {
    const write = async (v: StoredVerdicts): Promise<void> => {
      const stored = v.get(accountKey(accountId));
      if (!verdictUnchanged(stored, findings)) await this.findings.replaceForAccount(accountId, findings, this.sweep.sweepId, this.sweep.observedAt, stored ?? new Map());
    };
    if (this.verdicts) {
      await write(this.verdicts);
      return;
    }
    const later = this.stored.then(write);
    later.catch(() => undefined);
    this.waiting.push(later);
  }

  async storedVerdicts(): Promise<StoredVerdicts> {
    this.verdicts = await this.stored;
    return this.verdicts;
  }

  /** Every waiting write done; the first failure is thrown. */
  async settle(): Promise<void> {
    const failed = (await Promise.allSettled(this.waiting)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
