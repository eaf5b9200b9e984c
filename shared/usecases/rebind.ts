import type { RebindJob } from '../domain/jobs';
import type { KeyPolicy } from '../domain/keys';
import type { KeyVersionInfo, RotationRecord } from '../domain/model';
import { decideRebind, verifyRebind } from '../domain/rebind';
import { DependencyError, VaultNotAllowedError } from '../errors';
import type { AccountStore, Clock, JobKeyStore, JobQueue, KeyStore, Ledger, LeaseStore, Logger } from '../ports';
import { TELEMETRY } from '../telemetry';
import { newestUsableVersion } from './keyVersions';

export interface RebindDeps {
  keys: KeyStore;
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

export type RebindOutcome = { outcome: 'recorded'; record: RotationRecord } | { outcome: 'deferred' };

type Finish = (status: RotationRecord['status'], extra: Partial<RotationRecord>, retrying?: boolean) => Promise<RebindOutcome>;

/** DESIGN §2 for one account: resolve, dedupe, lease, decide, record intent, PATCH, verify, record. */
export async function runRebind(job: RebindJob, attempt: number, deps: RebindDeps, log: Logger): Promise<RebindOutcome> {
  const startedAt = deps.clock.now();
  const base: RotationRecord = {
    jobId: job.jobId,
    accountId: job.accountId,
    trigger: job.trigger,
    vaultUri: job.vaultUri,
    keyName: job.keyName,
    status: 'running',
    attempt,
    queuedAt: job.createdAt,
    startedAt: startedAt.toISOString(),
    ...(job.targetVersion ? { toVersion: job.targetVersion } : {}),
    ...(job.eventId ? { eventId: job.eventId } : {}),
    ...(job.eventType ? { eventType: job.eventType } : {}),
    ...(job.actor ? { actor: job.actor } : {}),
  };
  const fields = { jobId: job.jobId, accountId: job.accountId, attempt };
  const finish: Finish = async (status, extra, retrying = false) => {
    const finishedAt = deps.clock.now();
    const record: RotationRecord = {
      ...base,
      ...extra,
      status,
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(),
    };
    await deps.ledger.record(record);
    const logFields = { ...fields, status, from: record.fromVersion, to: record.toVersion, reason: record.reason };
    if (status === 'failed' && !retrying) log.error(`${TELEMETRY.rotationFailed}: ${record.reason ?? 'unknown'}`, logFields);
    else if (status === 'failed') log.warn('Rebind attempt failed; the queue will retry', logFields);
    else log.info(`Rebind ${status}`, logFields);
    return { outcome: 'recorded', record };
  };

  let target: KeyVersionInfo | undefined;
  try {
    target = job.targetVersion
      ? await deps.keys.getKeyVersion(job.vaultUri, job.keyName, job.targetVersion)
      : await newestUsableVersion(deps.keys, job.vaultUri, job.keyName, deps.policy, startedAt);
  } catch (error) {
    if (error instanceof VaultNotAllowedError) return finish('refused', { reason: error.message });
    return failed(error, finish, attempt, deps.maxAttempts, 'reading the target key version');
  }
  if (!target) {
    const reason = job.targetVersion ? 'key-missing: target version not found in Key Vault' : 'no-usable-version: the key has no version that passes preflight';
    return finish('refused', { reason });
  }
  base.toVersion = target.version;

  // Rule 8: one job per (account, target version); a person's job is its own intent.
  const dedupeKey = job.trigger === 'manual' ? `manual-${job.jobId}` : target.version.toLowerCase();
  if ((await deps.jobKeys.claim(job.accountId, dedupeKey, job.jobId, deps.leaseTtlMs)) === 'duplicate') {
    return finish('skipped', { reason: `duplicate: ${target.version} is already done or in flight for this account` });
  }

  // Rule 7: one writer per account; a held lease sends the job back to the queue, not to the bin.
  const lease = await deps.leases.acquire(job.accountId, job.jobId, deps.leaseTtlMs);
  if (!lease) {
    await deps.queue.enqueue(job, { delaySeconds: deps.leaseRetrySeconds });
    log.info('Account lease held by another job; job re-queued', { ...fields, delaySeconds: deps.leaseRetrySeconds });
    return { outcome: 'deferred' };
  }

  let settled: 'done' | 'release' = 'release';
  try {
    const account = await deps.accounts.getAccount(job.accountId);
    if (!account) return await finish('skipped', { reason: 'account-missing: the account no longer exists' });
    if (account.binding) base.fromVersion = account.binding.keyVersion;
    const current =
      account.binding && account.binding.keyVersion.toLowerCase() !== target.version.toLowerCase()
        ? await deps.keys.getKeyVersion(job.vaultUri, job.keyName, account.binding.keyVersion).catch(() => undefined)
        : undefined;

    const decision = decideRebind({
      account,
      request: { vaultUri: job.vaultUri, keyName: job.keyName, force: job.force },
      target,
      current,
      policy: deps.policy,
      now: deps.clock.now(),
    });
    if (decision.action === 'none') {
      if (decision.status === 'already-current') settled = 'done';
      return await finish(decision.status, { reason: decision.reason });
    }

    // Rule 6: the intent row is written before the PATCH; if it cannot be, nothing is changed.
    await deps.ledger.record({ ...base, status: 'running', fromVersion: decision.from, toVersion: decision.to });
    await deps.accounts.updateEncryption(job.accountId, { keySource: 'Microsoft.KeyVault', binding: decision.binding });
    const verified = verifyRebind(await deps.accounts.getAccount(job.accountId), decision.to);
    if (!verified.ok) return await finish('failed', { reason: `verification: ${verified.reason}` });
    settled = 'done';
    return await finish('succeeded', { reason: job.force && current ? 'forced by a person' : undefined });
  } catch (error) {
    return await failed(error, finish, attempt, deps.maxAttempts, 'rebinding');
  } finally {
    await deps.jobKeys.settle(job.accountId, dedupeKey, settled);
    await deps.leases.release(lease);
  }
}

/** Records the failure; a retryable one before the last attempt is rethrown so the queue tries again. */
async function failed(
  error: unknown,
  finish: Finish,
  attempt: number,
  maxAttempts: number,
  what: string,
): Promise<RebindOutcome> {
  if (!(error instanceof DependencyError)) throw error;
  const retry = error.retryable && attempt < maxAttempts;
  const outcome = await finish(
    'failed',
    { reason: `${what}: ${error.code}: ${error.message}${retry ? ` (attempt ${attempt} of ${maxAttempts}, will retry)` : ''}` },
    retry,
  );
  if (retry) throw error;
  return outcome;
}
