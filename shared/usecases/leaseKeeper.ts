import { DependencyError } from '../errors';
import type { AccountJournal, Lease, LeaseState, Logger } from '../ports';

/** Renews the lease every third of its life while the update runs, so a live job keeps it and a dead one loses it. */
export class LeaseKeeper {
  private lease: Lease | undefined;
  private renewing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private bug: { error: unknown } | undefined;

  constructor(
    lease: Lease,
    deps: { journal: AccountJournal; leaseTtlMs: number },
    log: Logger,
    /** The lease as stored now: a renewal whose answer was lost moved its ETag, and the lease may still be this one's. */
    reread: () => Promise<LeaseState | undefined>,
  ) {
    this.lease = lease;
    this.timer = setInterval(() => {
      this.renewing = this.renewing.then(async () => {
        if (!this.lease) return;
        try {
          const held: Lease = this.lease;
          const renewed = await deps.journal.renew(held, deps.leaseTtlMs);
          const stored = renewed ? undefined : await reread();
          this.lease = renewed ?? (stored?.holder === held.holder ? { ...held, etag: stored.etag, expiresAt: stored.expiresAt } : undefined);
          if (!this.lease) log.event('lease.lost', { accountId: lease.accountId });
        } catch (error) {
          // Storage trouble: the next renewal tries again. A bug stops renewing now and goes up from stop().
          if (!(error instanceof DependencyError)) {
            this.bug = { error };
            clearInterval(this.timer);
          }
          log.event('lease.renew-failed', { accountId: lease.accountId, error: error instanceof Error ? error.message : String(error) });
        }
      });
    }, Math.max(10, Math.floor(deps.leaseTtlMs / 3)));
    this.timer.unref();
  }

  /** The lease as last renewed; undefined once lost. */
  get held(): Lease | undefined {
    return this.lease;
  }

  /** Stops renewing; the lease as last renewed, or undefined when it was lost. */
  async stop(): Promise<Lease | undefined> {
    clearInterval(this.timer);
    await this.renewing;
    if (this.bug) throw this.bug.error;
    return this.lease;
  }
}
