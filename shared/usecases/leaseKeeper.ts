import { asDependencyError } from '../errors';
import type { AccountJournal, Lease, Logger } from '../ports';

/** Renews the lease every third of its life while the update runs, so a live job keeps it and a dead one loses it. */
export class LeaseKeeper {
  private lease: Lease | undefined;
  private renewing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(lease: Lease, deps: { journal: AccountJournal; leaseTtlMs: number }, log: Logger) {
    this.lease = lease;
    this.timer = setInterval(() => {
      this.renewing = this.renewing.then(async () => {
        if (!this.lease) return;
        try {
          this.lease = await deps.journal.renew(this.lease, deps.leaseTtlMs);
          if (!this.lease) log.event('lease.lost', { accountId: lease.accountId });
        } catch (error) {
          log.event('lease.renew-failed', { accountId: lease.accountId, error: asDependencyError(error).message });
        }
      });
      // stop() awaits the chain: a bug in renewing surfaces there, not as an unhandled rejection.
      this.renewing.catch(() => undefined);
    }, Math.max(10, Math.floor(deps.leaseTtlMs / 3)));
    this.timer.unref();
  }

  /** Stops renewing; the lease as last renewed, or undefined when it was lost. */
  async stop(): Promise<Lease | undefined> {
    clearInterval(this.timer);
    await this.renewing;
    return this.lease;
  }
}
