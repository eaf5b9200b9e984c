// What the sweep stores: its findings and the summary row of each run.
import type { Finding } from './findings';

/** One stored finding: the latest sweep's verdict for one account and code. */
export interface FindingRecord extends Finding {
  accountId: string;
  sweepId: string;
  observedAt: string;
}

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
