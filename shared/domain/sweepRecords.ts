// What the sweep stores of each run: its summary row (the findings' records are in findings.ts).

export type SweepTrigger = 'timer' | 'manual';
export type SweepMode = 'report' | 'enforce';
export type SweepStatus = 'running' | 'completed' | 'partial' | 'failed';

/** One Sweeps row: what a run saw, found and queued. */
export interface SweepSummary {
  sweepId: string;
  trigger: SweepTrigger;
  mode: SweepMode;
  status: SweepStatus;
  startedAt: string;
  finishedAt?: string;
  durationMs?: number;
  accountsSeen: number;
  keysRead: number;
  findingsByCode: Record<string, number>;
  findingsBySeverity: Record<string, number>;
  remediationsQueued: number;
  errors: string[];
}

/** Who holds the sweep lock, until when, and whether that sweep has ended (a queued sweep's lock marked done). */
export interface SweepLockView {
  sweepId: string;
  expiresAt: Date;
  finished: boolean;
}

/**
 * The latest row as it is served. A row still running whose run no longer holds the lock (released, taken by
 * another sweep, or lapsed without renewal) has stopped before recording its end (the host's functionTimeout, an
 * instance that stopped) or lost Table Storage. It is served failed, saying so, rather than running until the next
 * sweep starts; the row itself is left as it is, so a run that is still going writes its end over it.
 */
export function servedSweep(row: SweepSummary, lock: SweepLockView | undefined, now: Date): SweepSummary {
  if (row.status !== 'running') return row;
  let why: string;
  if (!lock || (lock.sweepId === row.sweepId && lock.finished)) why = 'it no longer holds the lock';
  else if (lock.sweepId !== row.sweepId) why = `sweep ${lock.sweepId} holds the lock`;
  else if (lock.expiresAt.getTime() < now.getTime()) why = `its lock lapsed at ${lock.expiresAt.toISOString()} without renewal`;
  else return row;
  return { ...row, status: 'failed', errors: [...row.errors, `no end recorded: the run stopped, or lost Table Storage, before recording one (${why})`] };
}
