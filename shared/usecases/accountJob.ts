import { ledgerRow, type AccountJob } from '../domain/jobs';
import type { AccountState, RotationRecord, RotationStatus } from '../domain/model';
import { DependencyError, toDependencyError } from '../errors';
import type { AccountStore, Clock, EncryptionChange, JobKeyStore, JobQueue, KeyStore, Ledger, LeaseStore, Logger } from '../ports';
import { TELEMETRY } from '../telemetry';
import type { KeyPolicy } from '../domain/keys';

export interface AccountJobDeps {
  keys: KeyStore;
  newId: () => string;
  accounts: AccountStore;
  ledger: Ledger;
  leases: LeaseStore;
  jobKeys: JobKeyStore;
  queue: JobQueue;
  clock: Clock;
  policy: KeyPolicy;
  /** Longest a PATCH may hold an account; a lease or claim older than this is taken over. */
  leaseTtlMs: number;
  /** When the account's lease is held, the job comes back after this long. */
  leaseRetrySeconds: number;
  /** The queue's maxDequeueCount: the last attempt reports the failure instead of retrying. */
  maxAttempts: number;
}

/** What a job decided for the account it read under the lease. */
export type Plan =
  | { action: 'patch'; change: EncryptionChange; from?: string; to?: string; keyName: string; reason?: string }
  | { action: 'none'; status: Extract<RotationStatus, 'skipped' | 'already-current' | 'refused'>; reason: string };

export interface AccountJobSteps {
  /** Rule 8: claimed before the lease; absent for jobs that are their own intent. */
  dedupeKey?: string;
  plan(account: AccountState): Promise<Plan>;
  /** Rule 6: what the account must report after the update for the row to say succeeded. */
  verify(account: AccountState | undefined, plan: Extract<Plan, { action: 'patch' }>): { ok: true } | { ok: false; reason: string };
}

export type JobOutcome = { outcome: 'recorded'; record: RotationRecord } | { outcome: 'deferred' };

export type Finish = (status: RotationStatus, extra: Partial<RotationRecord>, retrying?: boolean) => Promise<JobOutcome>;

/** The ledger row of a job and the one place a job's final state is written and logged. */
export function jobRecorder(job: AccountJob, attempt: number, deps: Pick<AccountJobDeps, 'ledger' | 'clock'>, log: Logger) {
  const startedAt = deps.clock.now();
  const base: RotationRecord = { ...ledgerRow(job, 'running', attempt), startedAt: startedAt.toISOString() };
  const finish: Finish = async (status, extra, retrying = false) => {
    const finishedAt = deps.clock.now();
    const record: RotationRecord = { ...base, ...extra, status, finishedAt: finishedAt.toISOString(), durationMs: finishedAt.getTime() - startedAt.getTime() };
    await deps.ledger.record(record);
    const fields = { jobId: job.jobId, kind: job.kind, accountId: job.accountId, attempt, status, from: record.fromVersion, to: record.toVersion, reason: record.reason };
    if (status === 'failed' && !retrying) log.error(`${TELEMETRY.rotationFailed}: ${record.reason ?? 'unknown'}`, fields);
    else if (status === 'failed') log.warn('Job attempt failed; the queue will retry', fields);
    else log.info(`Rebind ${status}`, fields);
    return { outcome: 'recorded', record };
  };
  return { base, finish };
}

/**
 * DESIGN §2 rules 6-8 for any change to one account: dedupe, lease, plan on a fresh read,
 * intent row, PATCH, read back, outcome row. Planning is the caller's (rules 1-5).
 */
export async function runAccountJob(
  job: AccountJob,
  attempt: number,
  deps: AccountJobDeps,
  log: Logger,
  steps: AccountJobSteps,
  recorder = jobRecorder(job, attempt, deps, log),
): Promise<JobOutcome> {
  const { base, finish } = recorder;
  if (steps.dedupeKey && (await deps.jobKeys.claim(job.accountId, steps.dedupeKey, job.jobId, deps.leaseTtlMs)) === 'duplicate') {
    return finish('skipped', { reason: `duplicate: ${base.toVersion ?? steps.dedupeKey} is already done or in flight for this account` });
  }

  // Rule 7: one writer per account; a held lease sends the job back to the queue, not to the bin.
  // The holder is this invocation, so two deliveries of one message cannot both hold it.
  const lease = await deps.leases.acquire(job.accountId, `${job.jobId}:${deps.newId()}`, deps.leaseTtlMs);
  if (!lease) {
    await deps.queue.enqueue(job, { delaySeconds: deps.leaseRetrySeconds });
    log.info('Account lease held by another job; job re-queued', { jobId: job.jobId, accountId: job.accountId, delaySeconds: deps.leaseRetrySeconds });
    return { outcome: 'deferred' };
  }

  let settled: 'done' | 'release' = 'release';
  try {
    const account = await deps.accounts.getAccount(job.accountId);
    if (!account) return await finish('skipped', { reason: 'account-missing: the account no longer exists' });
    if (account.provisioningState && !SETTLED_STATES.has(account.provisioningState)) {
      throw new DependencyError('account-busy', `account ${account.name} is ${account.provisioningState}: an update is still running`, true);
    }
    if (account.binding) base.fromVersion = account.binding.keyVersion;
    const plan = await steps.plan(account);
    if (plan.action === 'none') {
      if (plan.status === 'already-current') {
        settled = 'done';
        // An earlier attempt of this job sent the PATCH and died before recording it: record it now.
        const earlier = attempt > 1 ? await deps.ledger.get(job.accountId, job.createdAt, job.jobId) : undefined;
        if (earlier?.intentAt) {
          return await finish('succeeded', {
            ...pick(earlier, ['keyName', 'fromVersion', 'toVersion', 'intentAt']),
            reason: `the update sent on an earlier attempt took effect${earlier.reason && earlier.status !== 'failed' ? `; ${earlier.reason}` : ''}`,
          });
        }
      }
      return await finish(plan.status, { reason: plan.reason });
    }

    // Rule 6: the intent row is written before the PATCH; if it cannot be, nothing is changed.
    Object.assign(base, {
      keyName: plan.keyName,
      intentAt: deps.clock.now().toISOString(),
      ...(plan.from ? { fromVersion: plan.from } : {}),
      ...(plan.to ? { toVersion: plan.to } : {}),
    });
    await deps.ledger.record({ ...base, status: 'running' });
    await deps.accounts.updateEncryption(job.accountId, plan.change);
    const verified = steps.verify(await deps.accounts.getAccount(job.accountId), plan);
    if (!verified.ok) return await finish('failed', { reason: `verification: ${verified.reason}` });
    settled = 'done';
    return await finish('succeeded', plan.reason ? { reason: plan.reason } : {});
  } catch (error) {
    return await failed(error, finish, attempt, deps.maxAttempts, 'updating the account');
  } finally {
    // Both heal by themselves (claims and leases go stale): a failure here must not undo the outcome.
    if (steps.dedupeKey) {
      await deps.jobKeys.settle(job.accountId, steps.dedupeKey, job.jobId, settled).catch((e: unknown) =>
        log.warn('Could not settle the dedupe claim; it goes stale by itself', { jobId: job.jobId, error: (e as Error).message }),
      );
    }
    await deps.leases.release(lease).catch((e: unknown) =>
      log.warn('Could not release the account lease; it expires by itself', { jobId: job.jobId, error: (e as Error).message }),
    );
  }
}

/** Provisioning states in which no update is running (DESIGN §4 lists the others). */
const SETTLED_STATES = new Set(['Succeeded', 'Failed', 'Canceled']);

function pick<T extends object, K extends keyof T>(value: T, keys: K[]): Partial<Pick<T, K>> {
  return Object.fromEntries(keys.filter((k) => value[k] !== undefined).map((k) => [k, value[k]])) as Partial<Pick<T, K>>;
}

/** Records the failure; a retryable one before the last attempt is rethrown so the queue tries again. */
export async function failed(error: unknown, finish: Finish, attempt: number, maxAttempts: number, what: string): Promise<JobOutcome> {
  // Any Azure error counts, Table Storage's included; anything else is a bug and goes up as it is.
  const e = toDependencyError(error, 'Azure call');
  const retry = e.retryable && attempt < maxAttempts;
  const outcome = await finish(
    'failed',
    { reason: `${what}: ${e.code}: ${e.message}${retry ? ` (attempt ${attempt} of ${maxAttempts}, will retry)` : ''}` },
    retry,
  );
  if (retry) throw e;
  return outcome;
}
