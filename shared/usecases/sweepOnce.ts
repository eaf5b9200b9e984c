import type { SweepSummary, SweepTrigger } from '../domain/findings';
import type { Clock, JobQueue, Logger, SweepStore } from '../ports';
import { runSweep, type SweepDeps } from './sweep';

/** Longest a sweep may hold the lock before a later one takes over. */
export const SWEEP_LOCK_MS = 60 * 60_000;

/** Runs a sweep unless one is running; the lock is released however the run ends. */
export async function sweepOnce(
  sweepId: string,
  trigger: SweepTrigger,
  deps: SweepDeps,
  log: Logger,
): Promise<{ ran: true; summary: SweepSummary } | { ran: false; runningSweepId: string }> {
  const lock = await deps.sweeps.lock(sweepId, SWEEP_LOCK_MS);
  if (lock.held) {
    log.event('sweep.skipped', { sweepId, runningSweepId: lock.sweepId });
    return { ran: false, runningSweepId: lock.sweepId };
  }
  try {
    return { ran: true, summary: await runSweep(sweepId, trigger, deps, log) };
  } finally {
    await deps.sweeps.unlock(sweepId);
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
