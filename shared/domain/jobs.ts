import type { RotationRecord, RotationStatus, Trigger } from './model';

// The jobs on the "rotation-jobs" queue, as the domain sees them. Their wire schemas, which validate a message
// on the way in, are in shared/messages/rotationJobs.ts.

/** The longest actor a job (and its ledger rows) carries. */
export const MAX_ACTOR = 256;

/** What queued a job and when; every job carries it. */
interface JobOrigin {
  jobId: string;
  trigger: Trigger;
  createdAt: string;
  eventId?: string;
  eventType?: string;
  actor?: string;
  /** W3C trace context of what queued the job (the queue adapter stamps it when telemetry is on). */
  traceparent?: string;
}

/** The key a job is about. */
interface JobKey {
  vaultUri: string;
  keyName: string;
}

/** One per event: finds every account bound to the key and enqueues a rebind job for each. */
export interface FanOutJob extends JobOrigin, JobKey {
  kind: 'fan-out';
  /** A version to bind, or absent for "the newest usable version". */
  targetVersion?: string;
  force: boolean;
  /** bind: queue rebinds; rotate: create a version first unless a newer usable one exists; notify / expired: findings only. */
  action: 'bind' | 'rotate' | 'notify' | 'expired';
  /** The version an expiry event is about. */
  eventVersion?: string;
  /** That version's expiry as the expiry event stated it (data.EXP, ISO); Key Vault as read when the job runs decides. */
  eventExpiresOn?: string;
  /**
   * rotate: queued again by a copy that found the rotation claimed by another, to run once the claim has expired: it
   * binds what the holder made, or rotates if the holder made nothing. It is not queued again.
   */
  afterClaim?: boolean;
}

/** One per account: the rebind rules run here, under the account's lease. */
export interface RebindJob extends JobOrigin, JobKey {
  kind: 'rebind';
  parentJobId?: string;
  accountId: string;
  /** One of the account's encryption scopes, rebound under the account's lease; absent: the account's own binding. */
  encryptionScope?: string;
  targetVersion?: string;
  force: boolean;
  /** A person named targetVersion (not "the newest", not a rotation): only that pins a versionless binding (§2a). */
  versionNamed?: boolean;
  /** A person named the account (not every binding to a key): the job acts on it even if it carries OPT_OUT_TAG. */
  accountNamed?: boolean;
  /** A person's why, kept with the pin a forced rebind sets (e.g. "v7 breaks fine-tuning"). */
  reason?: string;
  /** Attempts made before this message (a job re-queued by its own retry carries its count; the queue's dequeueCount restarts). */
  priorAttempts: number;
}

/** A person moves an account to another key in the same vault (newest usable version). */
export interface SwitchKeyJob extends JobOrigin, JobKey {
  kind: 'switch-key';
  accountId: string;
  priorAttempts: number;
}

/** A person moves an account back to Microsoft-managed keys. */
export interface DisableCmkJob extends JobOrigin, JobKey {
  kind: 'disable-cmk';
  accountId: string;
  priorAttempts: number;
}

/** A sweep asked for over HTTP; its id was returned to the caller and holds the sweep lock. */
export interface SweepJob extends JobOrigin {
  kind: 'sweep';
}

/** Jobs that change one account under its lease. */
export type AccountJob = RebindJob | SwitchKeyJob | DisableCmkJob;
export type RotationJob = FanOutJob | AccountJob | SweepJob;

/** The encryption scope a job is about; undefined for the account's own binding. */
export function scopeOf(job: AccountJob): string | undefined {
  return 'encryptionScope' in job ? job.encryptionScope : undefined;
}

/** A job's ledger row as far as the job itself says: the queued row and the start of each attempt. */
export function ledgerRow(job: AccountJob, status: RotationStatus, attempt: number): RotationRecord {
  return {
    jobId: job.jobId,
    accountId: job.accountId,
    trigger: job.trigger,
    vaultUri: job.vaultUri,
    keyName: job.keyName,
    status,
    attempt,
    queuedAt: job.createdAt,
    ...('targetVersion' in job && job.targetVersion ? { toVersion: job.targetVersion } : {}),
    ...(scopeOf(job) ? { encryptionScope: scopeOf(job) } : {}),
    ...(job.eventId ? { eventId: job.eventId } : {}),
    ...(job.eventType ? { eventType: job.eventType } : {}),
    ...(job.actor ? { actor: job.actor } : {}),
  };
}
