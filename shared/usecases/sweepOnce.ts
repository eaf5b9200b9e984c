import type { SweepSummary, SweepTrigger } from '../domain/findings';
import type { Clock, JobQueue, Logger, SweepStore } from '../ports';
import { runSweep, type SweepDeps } from './sweep';

/** Longest a sweep may hold the lock before a later one takes over. */
export const SWEEP_LOCK_MS = 60 * 60_000;

/**
 * Runs a sweep unless one is running (its first reads go out while the lock is taken); the lock is released however
 * the run ends. `runner`: the queue message of a queued sweep (see SweepStore.lock).
 */
export async function sweepOnce(
  sweepId: string,
  trigger: SweepTrigger,
  deps: SweepDeps,
  log: Logger,
  runner?: string,
): Promise<{ ran: true; summary: SweepSummary } | { ran: false; runningSweepId: string }> {
  const lock = deps.sweeps.lock(sweepId, SWEEP_LOCK_MS, runner);
  const run = runSweep(sweepId, trigger, deps, log, lock.then((l) => !l.held));
  // A lock that could not be taken fails the run before it writes anything: the error goes up from the lock.
  run.catch(() => undefined);
  const taken = await lock;
  if (taken.held) {
    await run;
    log.event('sweep.skipped', { sweepId, runningSweepId: taken.sweepId });
    return { ran: false, runningSweepId: taken.sweepId };
  }
  let ended = false;
  try {
    const summary = await run;
    if (!summary) throw new Error('the sweep ended without a summary although its lock was taken');
    ended = true;
    return { ran: true, summary };
  } finally {
    // A run that failed goes up, and its message is delivered again: that delivery must find the lock free.
    await deps.sweeps.unlock(sweepId, runner, ended);
  }
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
  const lock = await deps.sweeps.lock(sweepId, SWEEP_LOCK_MS);
  if (lock.held) return { queued: false, runningSweepId: lock.sweepId };
  try {
    await deps.queue.enqueue({ kind: 'sweep', jobId: sweepId, trigger: 'manual', createdAt: deps.clock.now().toISOString(), actor });
  } catch (error) {
    await deps.sweeps.unlock(sweepId);
    throw error;
  }
  return { queued: true };
}
