import type { RebindJob } from '../domain/jobs';
import type { KeyVersionInfo } from '../domain/model';
import { decideRebind, verifyRebind } from '../domain/rebind';
import { VaultNotAllowedError } from '../errors';
import type { Logger } from '../ports';
import { failed, jobRecorder, runAccountJob, type AccountJobDeps, type JobOutcome } from './accountJob';
import { newestUsableVersion } from './keyVersions';

export type RebindDeps = AccountJobDeps;
export type RebindOutcome = JobOutcome;

/** DESIGN §2 for one account and one key: resolve the target, then rules 1-5 under the lease. */
export async function runRebind(job: RebindJob, attempt: number, deps: RebindDeps, log: Logger): Promise<RebindOutcome> {
  const recorder = jobRecorder(job, attempt, deps, log);
  const { finish } = recorder;
  let target: KeyVersionInfo | undefined;
  try {
    target = job.targetVersion
      ? await deps.keys.getKeyVersion(job.vaultUri, job.keyName, job.targetVersion)
      : await newestUsableVersion(deps.keys, job.vaultUri, job.keyName, deps.policy, deps.clock.now());
  } catch (error) {
    if (error instanceof VaultNotAllowedError) return finish('refused', { reason: error.message });
    return failed(error, finish, attempt, deps.maxAttempts, 'reading the target key version');
  }
  if (!target) {
    const reason = job.targetVersion ? 'key-missing: target version not found in Key Vault' : 'no-usable-version: the key has no version that passes preflight';
    return finish('refused', { reason });
  }
  const to = target;
  recorder.base.toVersion = to.version;

  return runAccountJob(job, attempt, deps, log, {
    // Rule 8: one job per (account, target version); a forced job is a person's own intent.
    dedupeKey: job.force ? `manual-${job.jobId}` : to.version.toLowerCase(),
    async plan(account) {
      const bound = account.binding?.keyVersion;
      const current = bound && bound.toLowerCase() !== to.version.toLowerCase()
        ? await deps.keys.getKeyVersion(job.vaultUri, job.keyName, bound)
        : undefined;
      const decision = decideRebind({
        account,
        request: { vaultUri: job.vaultUri, keyName: job.keyName, force: job.force },
        target: to,
        current,
        policy: deps.policy,
        now: deps.clock.now(),
      });
      if (decision.action === 'none') return decision;
      const downgrade = current?.createdOn && to.createdOn && current.createdOn > to.createdOn;
      return {
        action: 'patch',
        change: { keySource: 'Microsoft.KeyVault', binding: decision.binding },
        from: decision.from,
        to: decision.to,
        keyName: job.keyName,
        ...(downgrade ? { reason: `forced downgrade by ${job.actor ?? 'a person'}` } : {}),
      };
    },
    verify: (account, plan) => verifyRebind(account, plan.to ?? ''),
  }, recorder);
}
