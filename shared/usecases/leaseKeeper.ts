import { DependencyError } from '../errors';
import type { AccountJournal, Lease, Logger } from '../ports';

/** Renews the lease every third of its life while the update runs, so a live job keeps it and a dead one loses it. */
export class LeaseKeeper {
  private lease: Lease | undefined;
  private renewing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private bug: { error: unknown } | undefined;

  constructor(lease: Lease, deps: { journal: AccountJournal; leaseTtlMs: number }, log: Logger) {
    this.lease = lease;
    this.timer = setInterval(() => {
      this.renewing = this.renewing.then(async () => {
        if (!this.lease) return;
        try {
          this.lease = await deps.journal.renew(this.lease, deps.leaseTtlMs);
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

  /** Stops renewing; the lease as last renewed, or undefined when it was lost. */
  async stop(): Promise<Lease | undefined> {
    clearInterval(this.timer);
    await this.renewing;
    if (this.bug) throw this.bug.error;
    return this.lease;
  }
}
