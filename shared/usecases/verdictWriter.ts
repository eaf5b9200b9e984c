import { accountKey } from '../domain/accounts';
import type { Finding } from '../domain/findings';
import { verdictUnchanged } from '../domain/verdicts';
import type { FindingStore, StoredVerdicts } from '../ports';
import { forEachLimited, readAhead } from '../concurrency';

/** Pages whose stored verdicts are still being read before judging waits for the oldest (memory stays a few pages). */
const PAGES_AHEAD = 2;
/** Accounts whose findings are written at once (each account is one Table transaction). */
const WRITES_IN_FLIGHT = 32;

/**
 * A sweep's findings writes, compared with the stored verdicts. Discovery and the store both answer in account
 * order, so the two are read side by side from the first page on: before a page's writes go out, the store is
 * read past the page's last account (a store page ahead on its way), and each account's rows are taken from it.
 * Rows of accounts not judged yet wait for them (the two orders can differ), or, once the run is complete, are the
 * verdicts of accounts no longer found: leftOver() reads the store to its end for those. Memory holds a store page
 * or two and the keys of the accounts seen, not every verdict. A failed read or write fails the sweep at settle().
 */
export class VerdictWriter {
  /** Every account the run has seen (judged or not): their rows are never left over. */
  readonly seen = new Set<string>();
  private readonly unmatched: StoredVerdicts = new Map();
  /** The store, read from the first page on (not before: the sweep's lock and first reads go out first). */
  private stored: AsyncIterator<StoredVerdicts> | undefined;
  /** The greatest account key read from the store so far, and whether it has no more. */
  private position: string | undefined;
  private exhausted = false;
  /** The last account of the pages whose rows were read: a row at or before it read later came after its account. */
  private readUpTo: string | undefined;
  /** The store read so far, in order: a page's writes wait for its part and all before it. */
  private read: Promise<void> = Promise.resolve();
  private readonly unfinished: Array<Promise<void>> = [];
  private readonly waiting: Array<Promise<void>> = [];
  /** The findings of the page being judged and the read they wait for: written together once the page is done. */
  private page: { read: Promise<void>; findings: Array<[accountId: string, findings: Finding[], key: string]> } | undefined;

  constructor(
    private readonly findings: Pick<FindingStore, 'verdicts' | 'replaceForAccount'>,
    private readonly sweep: { sweepId: string; observedAt: string },
  ) {}

  /** Before a page is judged: reads the store past its last account; waits rather than have more than PAGES_AHEAD pages unread. */
  async beforePage(accountKeys: readonly string[]): Promise<void> {
    this.flush();
    let last: string | undefined;
    for (const key of accountKeys) {
      this.seen.add(key);
      if (last === undefined || key > last) last = key;
    }
    if (last !== undefined) this.readPast(last);
    this.page = { read: this.read, findings: [] };
    while (this.unfinished.length > PAGES_AHEAD) await this.unfinished.shift();
  }

  /** Writes the account's findings where they differ from what is stored, with its page's, once that page is done. */
  async record(accountId: string, findings: Finding[], key = accountKey(accountId)): Promise<void> {
    (this.page ??= { read: this.read, findings: [] }).findings.push([accountId, findings, key]);
  }

  /** After a complete discovery: the stored rows of accounts the run did not see, read to the store's end. */
  async leftOver(): Promise<StoredVerdicts> {
    this.flush();
    this.readPast(undefined);
    await this.settle();
    return new Map([...this.unmatched].filter(([key]) => !this.seen.has(key)));
  }

  /** Every read and waiting write done; the first failure is thrown. */
  async settle(): Promise<void> {
    this.flush();
    const failed = (await Promise.allSettled([this.read, ...this.waiting])).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    this.waiting.length = 0;
    if (failed) throw failed.reason;
  }

  /** The page judged so far goes to be written once the store is read past it. */
  private flush(): void {
    const page = this.page;
    this.page = undefined;
    if (!page?.findings.length) return;
    const write = page.read.then(() => this.write(page.findings));
    write.catch(() => undefined);
    this.waiting.push(write);
  }

  /** Each account's rows taken from what was read; the verdicts that changed written, WRITES_IN_FLIGHT at a time. */
  private async write(page: ReadonlyArray<[string, Finding[], string]>): Promise<void> {
    const changed: Array<[string, Finding[], Map<string, string>]> = [];
    for (const [accountId, findings, key] of page) {
      const stored = this.unmatched.get(key);
      this.unmatched.delete(key);
      if (!verdictUnchanged(stored, findings)) changed.push([accountId, findings, stored ?? new Map()]);
    }
    await forEachLimited(changed, WRITES_IN_FLIGHT, ([accountId, findings, stored]) =>
      this.findings.replaceForAccount(accountId, findings, this.sweep.sweepId, this.sweep.observedAt, stored).then(() => undefined));
  }

  /** Reads the store until a row past `key` (to its end when undefined): then every row up to `key` is in. */
  private readPast(key: string | undefined): void {
    // A store page ahead is read while the one read is taken apart.
    this.stored ??= readAhead(this.findings.verdicts())[Symbol.asyncIterator]();
    const stored = this.stored;
    this.read = this.read.then(async () => {
      while (!this.exhausted && (key === undefined || this.position === undefined || this.position <= key)) {
        const next = await stored.next();
        if (next.done) {
          this.exhausted = true;
          break;
        }
        for (const [account, codes] of next.value) {
          if (this.position === undefined || account > this.position) this.position = account;
          // Before the pages read by our order but not by the store's (only where they differ): an account already
          // judged with what was known then, whose rows are left as they are.
          if (this.readUpTo !== undefined && account <= this.readUpTo && this.seen.has(account)) continue;
          const earlier = this.unmatched.get(account);
          if (earlier) for (const [code, digest] of codes) earlier.set(code, digest);
          else this.unmatched.set(account, codes);
        }
      }
      if (key !== undefined && (this.readUpTo === undefined || key > this.readUpTo)) this.readUpTo = key;
    });
    this.read.catch(() => undefined);
    this.unfinished.push(this.read);
  }
}
