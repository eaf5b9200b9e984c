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
