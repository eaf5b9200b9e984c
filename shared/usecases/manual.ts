import { scopeOf, type AccountJob, type DisableCmkJob, type RebindJob, type SwitchKeyJob } from '../domain/jobs';
import { sameKey, vaultHost } from '../domain/keys';
import { cmkDisableRefusal } from '../domain/kinds';
import type { AccountState } from '../domain/model';
import { bindingsTo, type BoundTarget } from '../domain/scopes';
import type { EncryptionRequest, RotationRequest } from '../domain/requests';
import type { AccountJobDeps } from './accountJob';
import { optedOut, queueAccountJobs, type FanOutDeps } from './fanOut';
import type { PreflightDeps } from './keyAccess';
import { newestUsableVersion } from './keyVersions';
import { planRebind } from './rebind';

export type ManualDeps = AccountJobDeps & FanOutDeps & PreflightDeps & { newId: () => string; isAllowedVault: (vaultUri: string) => boolean };
/** What a plan reads, and nothing that writes: the API's dry run and the CLI's plan alike. */
export type PlanDeps = Pick<ManualDeps, 'accounts' | 'keys' | 'pins' | 'discovery' | 'isAllowedVault' | 'optOutTag' | 'policy' | 'clock' | 'vaults' | 'roleGrants'>;

/** A refusal of a person's request, with a stable code the HTTP edge maps to a status. */
export interface Refusal {
  code:
    | 'account-not-found' | 'account-not-cmk' | 'scope-not-found' | 'scope-not-cmk' | 'vault-not-allowed' | 'other-vault' | 'key-version-not-found'
    | 'key-not-usable' | 'no-bound-accounts' | 'cmk-disable-unsupported';
  detail: string;
  field?: string;
}
export type Result<T> = { ok: true; value: T } | { ok: false; refusal: Refusal };

export interface QueuedJob {
  jobId: string;
  accountId: string;
  encryptionScope?: string;
  kind: AccountJob['kind'];
  status: 'queued';
}

export interface PlanLine {
  accountId: string;
  encryptionScope?: string;
  fromVersion?: string;
  toVersion?: string;
  decision: 'patch' | 'skipped' | 'already-current' | 'refused';
  reason?: string;
}

const refuse = (code: Refusal['code'], detail: string, field?: string): { ok: false; refusal: Refusal } => ({
  ok: false,
  refusal: { code, detail, ...(field ? { field } : {}) },
});

type Target = BoundTarget & { account: AccountState };

/** The bindings a rotation request names (an account's, one scope's, or every binding to a key), with their key; reads only. */
async function resolveTargets(req: RotationRequest, deps: PlanDeps): Promise<Result<{ vaultUri: string; keyName: string; targets: Target[] }>> {
  if (req.accountId) {
    const account = await deps.accounts.getAccount(req.accountId);
    if (!account) return refuse('account-not-found', `No account ${req.accountId}`, 'accountId');
    const scope = req.encryptionScope ? await deps.accounts.getEncryptionScope(account.id, req.encryptionScope) : undefined;
    if (req.encryptionScope && !scope) return refuse('scope-not-found', `${account.name} has no encryption scope ${req.encryptionScope}`, 'encryptionScope');
    const holder = scope ?? account;
    const what = scope ? `Encryption scope ${scope.name} of ${account.name}` : account.name;
    if (holder.keySource !== 'Microsoft.KeyVault' || !holder.binding) {
      return refuse(scope ? 'scope-not-cmk' : 'account-not-cmk', `${what} does not use a customer-managed key`, scope ? 'encryptionScope' : 'accountId');
    }
    if (!deps.isAllowedVault(holder.binding.vaultUri)) return refuse('vault-not-allowed', `${what} uses vault ${holder.binding.vaultUri}, outside KEY_VAULT_HOST_SUFFIXES`, 'accountId');
    const target: Target = { account, holder: { ...holder, binding: holder.binding }, ...(scope ? { scope } : {}) };
    return { ok: true, value: { vaultUri: holder.binding.vaultUri, keyName: holder.binding.keyName, targets: [target] } };
  }
  const vaultUri = req.vaultUri ?? '';
  const keyName = req.keyName ?? '';
  if (!deps.isAllowedVault(vaultUri)) return refuse('vault-not-allowed', `vault ${vaultUri} is outside KEY_VAULT_HOST_SUFFIXES`, 'vaultUri');
  const targets: Target[] = [];
  for await (const page of deps.discovery.boundTo({ vaultUri, keyName })) {
    for (const account of page.filter((a) => !optedOut(a, deps.optOutTag))) targets.push(...bindingsTo(account, { vaultUri, keyName }).map((t) => ({ ...t, account })));
  }
  if (!targets.length) return refuse('no-bound-accounts', `No account or encryption scope in SUBSCRIPTION_IDS is bound to ${keyName} in ${vaultUri}`, 'keyName');
  return { ok: true, value: { vaultUri, keyName, targets } };
}

/** POST /api/rotations with dryRun: what each account's job would decide now, by the worker's own planner; nothing is written or queued. */
export async function planRotation(req: RotationRequest, deps: PlanDeps): Promise<Result<PlanLine[]>> {
  const targets = await resolveTargets(req, deps);
  if (!targets.ok) return targets;
  const { vaultUri, keyName, targets: bindings } = targets.value;
  if (req.keyVersion && !(await deps.keys.getKeyVersion(vaultUri, keyName, req.keyVersion))) {
    return refuse('key-version-not-found', `Key ${keyName} has no version ${req.keyVersion}`, 'keyVersion');
  }
  const lines: PlanLine[] = [];
  for (const { account, scope, holder } of bindings) {
    const from = holder.binding.keyVersion;
    const which = { accountId: account.id, ...(scope ? { encryptionScope: scope.name } : {}) };
    if (req.rotateKey) {
      lines.push({ ...which, ...(from ? { fromVersion: from } : {}), decision: 'patch', reason: 'rotateKey: a new version would be created and bound' });
      continue;
    }
    const ask = { vaultUri, keyName, targetVersion: req.keyVersion, force: req.force ?? false, trigger: 'manual' as const, versionNamed: !!req.keyVersion };
    const { decision, target } = await planRebind(ask, { account, scope }, await deps.pins.get(account.id, scope?.name), deps);
    lines.push({
      ...which,
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
  const { vaultUri, keyName, targets: bindings } = targets.value;
  let targetVersion = req.keyVersion;
  if (targetVersion && !(await deps.keys.getKeyVersion(vaultUri, keyName, targetVersion))) {
    return refuse('key-version-not-found', `Key ${keyName} has no version ${targetVersion}`, 'keyVersion');
  }
  // The new version's own KeyNewVersionCreated event also arrives; rules 4 and 7 keep it to one PATCH.
  if (req.rotateKey) targetVersion = (await deps.keys.rotateKey(vaultUri, keyName)).version;

  const items = bindings.map(({ account, scope, holder }) => {
    const job: RebindJob = {
      ...origin(actor, deps),
      kind: 'rebind',
      vaultUri,
      keyName,
      accountId: account.id,
      ...(scope ? { encryptionScope: scope.name } : {}),
      force: req.force ?? false,
      priorAttempts: 0,
      ...(targetVersion ? { targetVersion } : {}),
      ...(req.keyVersion ? { versionNamed: true } : {}),
      ...(req.reason ? { reason: req.reason } : {}),
    };
    return { job, account: holder };
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
  const scope = scopeOf(job);
  return { jobId: job.jobId, accountId: job.accountId, ...(scope ? { encryptionScope: scope } : {}), kind: job.kind, status: 'queued' };
}
