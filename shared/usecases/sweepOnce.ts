import type { SweepSummary, SweepTrigger } from '../domain/findings';
import type { Clock, JobQueue, Logger, SweepStore } from '../ports';
import { Heartbeat } from './leaseKeeper';
import { runSweep, type SweepDeps } from './sweep';

/**
 * A running sweep's lock expires this long after it was taken or last renewed (every third of it): a sweep that
 * died (its instance stopped, the host's functionTimeout) holds up the next one for minutes, not past the next hour.
 * Longer than the 10 minutes after which the queue delivers again a message whose worker died, so that a queued
 * sweep's redelivery still finds the lock its own.
 */
export const SWEEP_LOCK_MS = 15 * 60_000;
/** The lock a request takes for the sweep it queues: how long its message may wait in the queue before it goes. */
export const QUEUED_SWEEP_LOCK_MS = 60 * 60_000;

/**
 * Runs a sweep unless one is running (its first reads go out while the lock is taken); the lock is renewed while
 * it runs and released however the run ends. `runner`: the queue message of a queued sweep (see SweepStore.lock).
 */
export async function sweepOnce(
  sweepId: string,
  trigger: SweepTrigger,
  deps: SweepDeps & { sweepLockMs?: number },
  log: Logger,
  runner?: string,
): Promise<{ ran: true; summary: SweepSummary } | { ran: false; runningSweepId: string }> {
  const ttlMs = deps.sweepLockMs ?? SWEEP_LOCK_MS;
  const lock = deps.sweeps.lock(sweepId, ttlMs, runner);
  const lost = new AbortController();
  const run = runSweep(sweepId, trigger, deps, log, lock.then((l) => !l.held), lost.signal);
  // A lock that could not be taken fails the run before it writes anything: the error goes up from the lock.
  run.catch(() => undefined);
  const taken = await lock;
  if (taken.held) {
    await run;
    log.event('sweep.skipped', { sweepId, runningSweepId: taken.sweepId });
    return { ran: false, runningSweepId: taken.sweepId };
  }
  const heartbeat = new Heartbeat(
    async () => {
      const kept = await deps.sweeps.renew(sweepId, ttlMs, runner);
      // Renewals failed for the lock's whole life and another sweep (or delivery) took it: this run stops at its next step.
      if (!kept) {
        log.event('sweep.lock-lost', { sweepId });
        lost.abort(new Error('the sweep lock is no longer this run\'s (taken over once it could not be renewed): the run stopped there'));
      }
      return kept;
    },
    ttlMs,
    (error) => log.event('sweep.lock-renew-failed', { sweepId, error }),
  );
  const outcome = await run.then(
    (summary) => (summary ? { summary } : { error: new Error('the sweep ended without a summary although its lock was taken') }),
    (error: unknown) => ({ error }),
  );
  const renewal = await heartbeat.stop().then(() => undefined, (error: unknown) => ({ error }));
  // A run that failed goes up, and its message is delivered again: that delivery must find the lock free.
  await deps.sweeps.unlock(sweepId, runner, 'summary' in outcome);
  if ('error' in outcome) throw outcome.error;
  if (renewal) throw renewal.error;
  return { ran: true, summary: outcome.summary };
}

/**
 * POST /api/compliance/sweeps: the lock is taken for the sweep being queued (its run renews it as it starts), so
 * a second request is refused while one waits in the queue; a sweep that never reached the queue lets it go.
 */
export async function queueSweep(
  sweepId: string,
  actor: string,
  deps: { sweeps: SweepStore; queue: JobQueue; clock: Clock },
): Promise<{ queued: true } | { queued: false; runningSweepId: string }> {
  const lock = await deps.sweeps.lock(sweepId, QUEUED_SWEEP_LOCK_MS);
  if (lock.held) return { queued: false, runningSweepId: lock.sweepId };
  try {
    await deps.queue.enqueue({ kind: 'sweep', jobId: sweepId, trigger: 'manual', createdAt: deps.clock.now().toISOString(), actor });
  } catch (error) {
    await deps.sweeps.unlock(sweepId);
    throw error;
  }
  return { queued: true };
}
