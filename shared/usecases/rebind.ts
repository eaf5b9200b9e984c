import type { RebindJob } from '../domain/jobs';
import type { KeyPolicy } from '../domain/keys';
import type { AccountState, KeyVersionInfo, Trigger } from '../domain/model';
import { decideRebind, reportsVersion, type Pin, type RebindDecision } from '../domain/rebind';
import { VaultNotAllowedError } from '../errors';
import type { Clock, KeyStore, Logger } from '../ports';
import { runAccountJob, type AccountJobDeps, type JobOutcome, type PinEffect, type Plan } from './accountJob';
import { preflightKey, type PreflightDeps } from './keyAccess';
import { readRebindKeys } from './keyVersions';

export type RebindDeps = AccountJobDeps & PreflightDeps;

/** What a rebind is asked to do, from a job or a dry run. */
export interface RebindAsk {
  vaultUri: string;
  keyName: string;
  targetVersion?: string | undefined;
  force: boolean;
  trigger: Trigger;
}

/**
 * The one planner, for the worker and the API's dry run alike: Key Vault read, then rules 1-5 and the pin, then
 * for a PATCH the preflight (the identity can use the key; a Managed HSM only for kinds that support it).
 */
export async function planRebind(
  ask: RebindAsk,
  account: AccountState,
  pin: Pin | undefined,
  deps: { keys: KeyStore; policy: KeyPolicy; clock: Clock } & PreflightDeps,
): Promise<{ decision: RebindDecision; target?: KeyVersionInfo }> {
  const now = deps.clock.now();
  let keys;
  try {
    keys = await readRebindKeys(deps.keys, ask, account.binding?.keyVersion, deps.policy, now);
  } catch (error) {
    if (error instanceof VaultNotAllowedError) return { decision: { action: 'none', status: 'refused', reason: error.message } };
    throw error;
  }
  if (!keys.target && !ask.targetVersion) {
    return { decision: { action: 'none', status: 'refused', reason: 'no-usable-version: the key has no version that passes preflight' } };
  }
  let decision = decideRebind({
    account, request: { vaultUri: ask.vaultUri, keyName: ask.keyName, force: ask.force, trigger: ask.trigger },
    target: keys.target, bound: keys.bound, order: keys.order, pin, policy: deps.policy, now,
  });
  if (decision.action === 'patch') {
    const check = await preflightKey(account, decision.binding, { vaults: deps.vaults, roleGrants: deps.roleGrants });
    if (!check.ok) decision = { action: 'none', status: 'refused', reason: check.reason };
  }
  return { decision, ...(keys.target ? { target: keys.target } : {}) };
}

/** DESIGN §2 for one account and one key, under the account's lease. */
export function runRebind(job: RebindJob, dequeueCount: number, deps: RebindDeps, log: Logger): Promise<JobOutcome> {
  return runAccountJob(job, dequeueCount, deps, log, {
    async plan({ account, pin }): Promise<Plan> {
      const { decision } = await planRebind(job, account, pin, deps);
      const effect = pinEffect(job, decision, deps.clock.now());
      if (decision.action === 'none') return { ...decision, ...(effect ? { pin: effect } : {}) };
      return {
        action: 'patch',
        change: { keySource: 'Microsoft.KeyVault', binding: decision.binding },
        from: decision.from,
        to: decision.to,
        keyName: job.keyName,
        ...(decision.downgrade ? { reason: `forced downgrade by ${job.actor ?? 'a person'}${job.reason ? `: ${job.reason}` : ''}` } : {}),
        ...(effect ? { pin: effect } : {}),
      };
    },
    missing: (account, plan) => reportsVersion(account, plan.to ?? ''),
  });
}

/** §2a: a person's forced rebind pins the account to its version; a person's plain rotation releases a pin. */
function pinEffect(job: RebindJob, decision: RebindDecision, now: Date): PinEffect | undefined {
  if (job.trigger !== 'manual') return undefined;
  if (!job.force) return { release: true };
  const version = decision.action === 'patch' ? decision.to : job.targetVersion;
  if (!version) return undefined;
  return {
    set: {
      accountId: job.accountId, keyVersion: version, actor: job.actor ?? 'a person', jobId: job.jobId, pinnedAt: now.toISOString(),
      reason: job.reason ?? 'forced rebind',
    },
  };
}
