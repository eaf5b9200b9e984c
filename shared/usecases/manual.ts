import { scopeOf, type AccountJob, type DisableCmkJob, type SwitchKeyJob } from '../domain/jobs';
import { sameKey, vaultHost } from '../domain/keys';
import { cmkDisableRefusal } from '../domain/kinds';
import { isVersionless } from '../domain/model';
import type { EncryptionRequest, RotationRequest } from '../domain/requests';
import type { AccountJobDeps } from './accountJob';
import type { FanOutDeps } from './fanOut';
import type { PreflightDeps } from './keyAccess';
import { DependencyError, RotatedNotQueuedError } from '../errors';
import { switchTarget } from './keyVersions';
import { queueAccountJobs } from './queueJobs';
import { refuse, type Result } from './refusals';
import { noBindingTakesRotation, rotationCopies } from './rotationPlan';
import { requestedRebind, rotationTargets } from './rotationTargets';

export type ManualDeps = AccountJobDeps & FanOutDeps & PreflightDeps & { newId: () => string; isAllowedVault: (vaultUri: string) => boolean };

export interface QueuedJob {
  jobId: string;
  accountId: string;
  encryptionScope?: string;
  kind: AccountJob['kind'];
  status: 'queued';
}

/** POST /api/rotations: queue one rebind job per account (after rotating the key when asked). */
export async function requestRotation(req: RotationRequest, actor: string, deps: ManualDeps): Promise<Result<QueuedJob[]>> {
  const targets = await rotationTargets(req, deps);
  if (!targets.ok) return targets;
  const { vaultUri, keyName, targets: bindings } = targets.value;
  let targetVersion = req.keyVersion;
  if (targetVersion && !(await deps.keys.getKeyVersion(vaultUri, keyName, targetVersion))) {
    return refuse('key-version-not-found', `Key ${keyName} has no version ${targetVersion}`, 'keyVersion');
  }
  if (req.rotateKey) {
    // A version none of the request's bindings could take is not made: a key's rotation cannot be undone.
    const copied = await rotationCopies(deps, { vaultUri, keyName });
    if (copied) return refuse('preflight-refused', `no binding could take a new version, so the key is not rotated: ${copied}`, 'rotateKey');
    const refused = await noBindingTakesRotation(bindings, !!req.accountId, deps);
    if (refused) return refuse('preflight-refused', refused, 'rotateKey');
    // The new version's own KeyNewVersionCreated event also arrives; rules 4 and 7 keep it to one PATCH.
    targetVersion = (await deps.keys.rotateKey(vaultUri, keyName)).version;
  }

  const items = bindings.map((target) => ({ job: requestedRebind(req, { vaultUri, keyName, targetVersion }, target, origin(actor, deps)), account: target.holder }));
  try {
    await queueAccountJobs(items, deps);
  } catch (error) {
    // The key has its new version now: the request asked again as it was would rotate it once more.
    if (req.rotateKey && targetVersion && error instanceof DependencyError) throw new RotatedNotQueuedError(keyName, targetVersion, error);
    throw error;
  }
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
  const target = await switchTarget(deps.keys, { vaultUri: binding.vaultUri, keyName, versionless: isVersionless(binding) }, deps.policy, deps.clock.now());
  if ('problem' in target) {
    const rule = `preflight: enabled, valid, RSA ${deps.policy.allowedKeySizes.join('/')}, wrapKey+unwrapKey`;
    return refuse('key-not-usable', `${account.name}: ${target.problem} (${rule})`, 'keyName');
  }
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
