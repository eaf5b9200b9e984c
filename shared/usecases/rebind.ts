import type { RebindJob } from '../domain/jobs';
import { versionOrder, type KeyPolicy } from '../domain/keys';
import type { AccountState, BindingHolder, EncryptionScopeState, KeyVersionInfo, Trigger } from '../domain/model';
import { decideRebind, reportsVersion, type Pin, type RebindDecision } from '../domain/rebind';
import { VaultNotAllowedError } from '../errors';
import type { Clock, KeyStore, Logger } from '../ports';
import { runAccountJob, type AccountJobDeps, type JobOutcome, type Plan } from './accountJob';
import { optedOut, optedOutReason } from './bindingDiscovery';
import { releasesPin, type PinEffect } from './jobPin';
import { preflightBinding, type PreflightDeps } from './keyAccess';
import { readRebindKeys, readRebindTarget, type RebindKeys, type RebindTarget } from './keyVersions';

/** `optOutTag`: an account carrying it is left alone by events, sweeps and key-wide requests, read fresh by each job (OPT_OUT_TAG). */
export type RebindDeps = AccountJobDeps & PreflightDeps & { optOutTag: string };

/** What a rebind is asked to do. */
interface RebindAsk {
  vaultUri: string;
  keyName: string;
  targetVersion?: string | undefined;
  force: boolean;
  trigger: Trigger;
  versionNamed?: boolean | undefined;
  accountNamed?: boolean | undefined;
}

/**
 * Key Vault read, then rules 1-5 and the pin, then for a PATCH the preflight (the identity can use the key; a
 * Managed HSM only for kinds that support it).
 */
async function planRebind(
  ask: RebindAsk,
  /** The account, and the encryption scope when the job names one (its identity reads the scope's key too). */
  on: { account: AccountState; scope?: EncryptionScopeState | undefined },
  pin: Pin | undefined,
  deps: { keys: KeyStore; policy: KeyPolicy; clock: Clock; optOutTag: string } & PreflightDeps,
  /** The target read already under way (a job starts it with its other reads). */
  targetRead: Promise<RebindTarget> = readRebindTarget(deps.keys, ask, deps.policy, deps.clock.now()),
): Promise<{ decision: RebindDecision; target?: KeyVersionInfo }> {
  // Discovery found the account through Resource Graph or the scope index, which lag: its tags as read now decide,
  // unless a person named the account.
  if (!ask.accountNamed && optedOut(on.account, deps.optOutTag)) {
    return { decision: { action: 'none', status: 'skipped', reason: optedOutReason(deps.optOutTag) } };
  }
  const account: BindingHolder = on.scope ?? on.account;
  // Without a target the rules before rule 2 (the binding, the pin, a versionless binding) still answer first.
  let keys: RebindKeys;
  let noTarget: string | undefined;
  try {
    keys = await readRebindKeys(deps.keys, ask, await targetRead, account.binding?.keyVersion);
    if (!keys.target && !ask.targetVersion) noTarget = 'no-usable-version: the key has no version that passes preflight';
  } catch (error) {
    if (!(error instanceof VaultNotAllowedError)) throw error;
    keys = { target: undefined, bound: undefined, order: versionOrder(undefined) };
    noTarget = error.message;
  }
  let decision = decideRebind({
    account, request: { vaultUri: ask.vaultUri, keyName: ask.keyName, force: ask.force, trigger: ask.trigger, versionNamed: ask.versionNamed === true },
    target: keys.target, noTarget, bound: keys.bound, order: keys.order, pin, policy: deps.policy, now: deps.clock.now(),
  });
  if (decision.action === 'patch') {
    const check = await preflightBinding(on.account, decision.binding, deps);
    if (!check.ok) decision = { action: 'none', status: 'refused', reason: check.reason };
  }
  return { decision, ...(keys.target ? { target: keys.target } : {}) };
}

/**
 * The worker's plan for one rebind job: the decision with its reason and its pin effect (§2a). The API's dry run
 * calls it with the job its request would queue, so what it answers is what the worker would do.
 */
export async function planRebindJob(
  job: RebindJob,
  on: { account: AccountState; scope?: EncryptionScopeState | undefined },
  pin: Pin | undefined,
  deps: { keys: KeyStore; policy: KeyPolicy; clock: Clock; optOutTag: string } & PreflightDeps,
  targetRead?: Promise<RebindTarget>,
): Promise<{ plan: Plan; target?: KeyVersionInfo }> {
  const { decision, target } = await planRebind(job, on, pin, deps, targetRead);
  const effect = pinEffect(job, decision, deps.clock.now());
  const extra = { ...(target?.createdOn ? { targetCreatedOn: target.createdOn, targetVersion: target.version } : {}), ...(effect ? { pin: effect } : {}) };
  const found = target ? { target } : {};
  if (decision.action === 'none') return { plan: { ...decision, ...extra }, ...found };
  const plan: Plan = {
    ...extra,
    action: 'patch',
    change: { keySource: 'Microsoft.KeyVault', binding: decision.binding },
    from: decision.from,
    to: decision.to,
    keyName: job.keyName,
    ...(decision.downgrade ? { reason: `forced downgrade by ${job.actor ?? 'a person'}${job.reason ? `: ${job.reason}` : ''}` } : {}),
    ...(decision.from === '' ? { reason: `versionless binding set to version ${decision.to} by ${job.actor ?? 'a person'}` } : {}),
  };
  return { plan, ...found };
}

/** DESIGN §2 for one account and one key, under the account's lease. */
export function runRebind(job: RebindJob, dequeueCount: number, deps: RebindDeps, log: Logger): Promise<JobOutcome> {
  // The key, and the vault the preflight reads, are read while the job reads its journal and pin: they wait for
  // nothing of the account. The vault read is kept for the preflight (readVault's freshness).
  const targetRead = readRebindTarget(deps.keys, job, deps.policy, deps.clock.now());
  targetRead.catch(() => undefined);
  deps.vaults.readVault(job.vaultUri).catch(() => undefined);
  return runAccountJob(job, dequeueCount, deps, log, {
    ...(job.trigger === 'manual' && !job.force ? { pin: releasesPin } : {}),
    plan: async ({ account, pin, scope }) => (await planRebindJob(job, { account, scope }, pin, deps, targetRead)).plan,
    missing: (account, plan) => reportsVersion(account, plan.to ?? ''),
  });
}

/** §2a: a person's forced rebind pins the account to its version; a person's plain rotation releases a pin. */
function pinEffect(job: RebindJob, decision: RebindDecision, now: Date): PinEffect | undefined {
  if (job.trigger !== 'manual') return undefined;
  if (!job.force) return releasesPin;
  const version = decision.action === 'patch' ? decision.to : job.targetVersion;
  if (!version) return undefined;
  return {
    set: {
      accountId: job.accountId, ...(job.encryptionScope ? { encryptionScope: job.encryptionScope } : {}),
      keyVersion: version, actor: job.actor ?? 'a person', jobId: job.jobId, pinnedAt: now.toISOString(),
      reason: job.reason ?? 'forced rebind',
    },
  };
}
