import type { AccountJob, DisableCmkJob, RebindJob, SwitchKeyJob } from '../domain/jobs';
import { sameKey, vaultHost } from '../domain/keys';
import { cmkDisableRefusal } from '../domain/kinds';
import type { AccountState } from '../domain/model';
import type { EncryptionRequest, RotationRequest } from '../http/schemas';
import type { AccountJobDeps } from './accountJob';
import { optedOut, queueAccountJobs, type FanOutDeps } from './fanOut';
import type { PreflightDeps } from './keyAccess';
import { newestUsableVersion } from './keyVersions';
import { planRebind } from './rebind';

export type ManualDeps = AccountJobDeps & FanOutDeps & PreflightDeps & { newId: () => string; isAllowedVault: (vaultUri: string) => boolean };

/** A refusal of a person's request, with a stable code the HTTP edge maps to a status. */
export interface Refusal {
  code:
    | 'account-not-found' | 'account-not-cmk' | 'vault-not-allowed' | 'other-vault' | 'key-version-not-found' | 'key-not-usable' | 'no-bound-accounts'
    | 'cmk-disable-unsupported';
  detail: string;
  field?: string;
}
export type Result<T> = { ok: true; value: T } | { ok: false; refusal: Refusal };

export interface QueuedJob {
  jobId: string;
  accountId: string;
  kind: AccountJob['kind'];
  status: 'queued';
}

export interface PlanLine {
  accountId: string;
  fromVersion?: string;
  toVersion?: string;
  decision: 'patch' | 'skipped' | 'already-current' | 'refused';
  reason?: string;
}

const refuse = (code: Refusal['code'], detail: string, field?: string): { ok: false; refusal: Refusal } => ({
  ok: false,
  refusal: { code, detail, ...(field ? { field } : {}) },
});

/** The accounts a rotation request names, with the key they are bound to; reads only. */
async function resolveTargets(req: RotationRequest, deps: ManualDeps): Promise<Result<{ vaultUri: string; keyName: string; accounts: AccountState[] }>> {
  if (req.accountId) {
    const account = await deps.accounts.getAccount(req.accountId);
    if (!account) return refuse('account-not-found', `No account ${req.accountId}`, 'accountId');
    if (account.keySource !== 'Microsoft.KeyVault' || !account.binding) return refuse('account-not-cmk', `${account.name} does not use a customer-managed key`, 'accountId');
    if (!deps.isAllowedVault(account.binding.vaultUri)) return refuse('vault-not-allowed', `${account.name} uses vault ${account.binding.vaultUri}, outside KEY_VAULT_HOST_SUFFIXES`, 'accountId');
    return { ok: true, value: { vaultUri: account.binding.vaultUri, keyName: account.binding.keyName, accounts: [account] } };
  }
  const vaultUri = req.vaultUri ?? '';
  const keyName = req.keyName ?? '';
  if (!deps.isAllowedVault(vaultUri)) return refuse('vault-not-allowed', `vault ${vaultUri} is outside KEY_VAULT_HOST_SUFFIXES`, 'vaultUri');
  const accounts: AccountState[] = [];
  for await (const page of deps.discovery.boundTo({ vaultUri, keyName })) accounts.push(...page.filter((a) => !optedOut(a, deps.optOutTag)));
  if (!accounts.length) return refuse('no-bound-accounts', `No account in SUBSCRIPTION_IDS is bound to ${keyName} in ${vaultUri}`, 'keyName');
  return { ok: true, value: { vaultUri, keyName, accounts } };
}

/** POST /api/rotations with dryRun: what each account's job would decide now, by the worker's own planner; nothing is written or queued. */
export async function planRotation(req: RotationRequest, deps: ManualDeps): Promise<Result<PlanLine[]>> {
  const targets = await resolveTargets(req, deps);
  if (!targets.ok) return targets;
  const { vaultUri, keyName, accounts } = targets.value;
  if (req.keyVersion && !(await deps.keys.getKeyVersion(vaultUri, keyName, req.keyVersion))) {
    return refuse('key-version-not-found', `Key ${keyName} has no version ${req.keyVersion}`, 'keyVersion');
  }
  const lines: PlanLine[] = [];
  for (const account of accounts) {
    const from = account.binding?.keyVersion;
    if (req.rotateKey) {
      lines.push({ accountId: account.id, ...(from ? { fromVersion: from } : {}), decision: 'patch', reason: 'rotateKey: a new version would be created and bound' });
      continue;
    }
    const ask = { vaultUri, keyName, targetVersion: req.keyVersion, force: req.force ?? false, trigger: 'manual' as const };
    const { decision, target } = await planRebind(ask, account, await deps.pins.get(account.id), deps);
    lines.push({
      accountId: account.id,
      ...(from ? { fromVersion: from } : {}),
      ...(target ? { toVersion: target.version } : {}),
      decision: decision.action === 'patch' ? 'patch' : decision.status,
      ...(decision.action === 'none' ? { reason: decision.reason } : decision.downgrade ? { reason: 'forced downgrade; the account would be pinned' } : {}),
    });
  }
  return { ok: true, value: lines };
}

/** POST /api/rotations: queue one rebind job per account (after rotating the key when asked). */
export async function requestRotation(req: RotationRequest, actor: string, deps: ManualDeps): Promise<Result<QueuedJob[]>> {
  const targets = await resolveTargets(req, deps);
  if (!targets.ok) return targets;
  const { vaultUri, keyName, accounts } = targets.value;
  let targetVersion = req.keyVersion;
  if (targetVersion && !(await deps.keys.getKeyVersion(vaultUri, keyName, targetVersion))) {
    return refuse('key-version-not-found', `Key ${keyName} has no version ${targetVersion}`, 'keyVersion');
  }
  // The new version's own KeyNewVersionCreated event also arrives; rules 4 and 7 keep it to one PATCH.
  if (req.rotateKey) targetVersion = (await deps.keys.rotateKey(vaultUri, keyName)).version;

  const items = accounts.map((account) => {
    const job: RebindJob = {
      ...origin(actor, deps),
      kind: 'rebind',
      vaultUri,
      keyName,
      accountId: account.id,
      force: req.force ?? false,
      priorAttempts: 0,
      ...(targetVersion ? { targetVersion } : {}),
      ...(req.reason ? { reason: req.reason } : {}),
    };
    return { job, account };
  });
  await queueAccountJobs(items, deps);
  return { ok: true, value: items.map(({ job }) => queued(job)) };
}

/** POST /api/accounts/encryption: switch key in the same vault, or disable CMK (confirmed by name). */
export async function requestEncryptionChange(req: EncryptionRequest, actor: string, deps: ManualDeps): Promise<Result<QueuedJob>> {
  const account = await deps.accounts.getAccount(req.accountId);
  if (!account) return refuse('account-not-found', `No account ${req.accountId}`, 'accountId');
  if (account.keySource !== 'Microsoft.KeyVault' || !account.binding) {
    return refuse('account-not-cmk', `${account.name} does not use a customer-managed key`, 'accountId');
  }
  const binding = account.binding;
  if (req.keySource) {
    // Refused here rather than left to ARM: nothing is queued or written for a change the kind does not allow.
    const refusal = cmkDisableRefusal(account.kind);
    if (refusal) return refuse('cmk-disable-unsupported', `${account.name}: ${refusal}`, 'keySource');
    const job: DisableCmkJob = { ...origin(actor, deps), kind: 'disable-cmk', vaultUri: binding.vaultUri, keyName: binding.keyName, accountId: account.id, priorAttempts: 0 };
    await queueAccountJobs([{ job, account }], deps);
    return { ok: true, value: queued(job) };
  }

  const keyName = req.keyName ?? '';
  if (req.vaultUri && vaultHost(req.vaultUri) !== vaultHost(binding.vaultUri)) {
    return refuse('other-vault', `${account.name} is bound to vault ${binding.vaultUri}; a key can only be switched within the same vault`, 'vaultUri');
  }
  if (!deps.isAllowedVault(binding.vaultUri)) return refuse('vault-not-allowed', `vault ${binding.vaultUri} is outside KEY_VAULT_HOST_SUFFIXES`, 'accountId');
  if (sameKey(binding, { vaultUri: binding.vaultUri, keyName })) {
    return refuse('key-not-usable', `${account.name} is already bound to ${keyName}; use POST /api/rotations to change its version`, 'keyName');
  }
  const { version: target } = await newestUsableVersion(deps.keys, binding.vaultUri, keyName, deps.policy, deps.clock.now());
  if (!target) return refuse('key-not-usable', `Key ${keyName} has no version that passes preflight (enabled, valid, RSA ${deps.policy.allowedKeySizes.join('/')}, wrapKey+unwrapKey)`, 'keyName');
  const job: SwitchKeyJob = { ...origin(actor, deps), kind: 'switch-key', vaultUri: binding.vaultUri, keyName, accountId: account.id, priorAttempts: 0 };
  await queueAccountJobs([{ job, account }], deps);
  return { ok: true, value: queued(job) };
}

function origin(actor: string, deps: Pick<ManualDeps, 'newId' | 'clock'>) {
  return { jobId: deps.newId(), trigger: 'manual' as const, createdAt: deps.clock.now().toISOString(), actor };
}

function queued(job: AccountJob): QueuedJob {
  return { jobId: job.jobId, accountId: job.accountId, kind: job.kind, status: 'queued' };
}
