import { DependencyError } from '../errors';
import type { AccountJournal, Lease, LeaseState, Logger } from '../ports';

/**
 * Keeps something with a life of `lifeMs` (a lease, a lock) alive: calls `beat` every third of that life, one call at
 * a time, until it answers false (what it kept is lost) or stop() is called. Storage trouble (a DependencyError) goes
 * to `failed` and the next beat tries again; a bug goes to `failed` too, stops the beats and goes up from stop().
 */
export class Heartbeat {
  private beating: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private halted = false;
  private bug: { error: unknown } | undefined;

  constructor(beat: () => Promise<boolean>, lifeMs: number, failed: (error: string) => void) {
    this.timer = setInterval(() => {
      this.beating = this.beating.then(async () => {
        if (this.halted) return;
        try {
          if (!(await beat())) this.halt();
        } catch (error) {
          if (!(error instanceof DependencyError)) {
            this.bug = { error };
            this.halt();
          }
          failed(error instanceof Error ? error.message : String(error));
        }
      });
    }, Math.max(10, Math.floor(lifeMs / 3)));
    this.timer.unref();
  }

  private halt(): void {
    this.halted = true;
    clearInterval(this.timer);
  }

  /** Stops the beats once the one under way has ended. */
  async stop(): Promise<void> {
    this.halt();
    await this.beating;
    if (this.bug) throw this.bug.error;
  }
}

/** Renews the lease every third of its life while the update runs, so a live job keeps it and a dead one loses it. */
export class LeaseKeeper {
  private lease: Lease | undefined;
  private readonly heartbeat: Heartbeat;

  constructor(
    lease: Lease,
    deps: { journal: AccountJournal; leaseTtlMs: number },
    log: Logger,
    /** The lease as stored now: a renewal whose answer was lost moved its ETag, and the lease may still be this one's. */
    reread: () => Promise<LeaseState | undefined>,
  ) {
    this.lease = lease;
    const renew = async (held: Lease): Promise<boolean> => {
      const renewed = await deps.journal.renew(held, deps.leaseTtlMs);
      const stored = renewed ? undefined : await reread();
      this.lease = renewed ?? (stored?.holder === held.holder ? { ...held, etag: stored.etag, expiresAt: stored.expiresAt } : undefined);
      if (!this.lease) log.event('lease.lost', { accountId: lease.accountId });
      return this.lease !== undefined;
    };
    this.heartbeat = new Heartbeat(
      async () => this.lease !== undefined && renew(this.lease),
      deps.leaseTtlMs,
      (error) => log.event('lease.renew-failed', { accountId: lease.accountId, error }),
    );
  }

  /** The lease as last renewed; undefined once lost. */
  get held(): Lease | undefined {
    return this.lease;
  }

  /** Stops renewing; the lease as last renewed, or undefined when it was lost. */
  async stop(): Promise<Lease | undefined> {
    await this.heartbeat.stop();
    return this.lease;
  }
}
