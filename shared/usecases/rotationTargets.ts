import type { RebindJob } from '../domain/jobs';
import type { RotationRequest } from '../domain/requests';
import type { AccountDiscovery, AccountStore } from '../ports';
import { bindingPages, type KeyBindingTarget as Target } from './bindingDiscovery';
import { refuse, type Result } from './refusals';

export interface TargetDeps {
  accounts: AccountStore;
  discovery: AccountDiscovery;
  isAllowedVault: (vaultUri: string) => boolean;
  optOutTag: string;
}

/** The bindings a rotation request names (an account's, one scope's, or every binding to a key), with their key; reads only. */
export async function rotationTargets(req: RotationRequest, deps: TargetDeps): Promise<Result<{ vaultUri: string; keyName: string; targets: Target[] }>> {
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
  for await (const { bindings } of bindingPages(deps.discovery, { vaultUri, keyName }, deps.optOutTag)) targets.push(...bindings);
  if (!targets.length) return refuse('no-bound-accounts', `No account or encryption scope in SUBSCRIPTION_IDS is bound to ${keyName} in ${vaultUri}`, 'keyName');
  return { ok: true, value: { vaultUri, keyName, targets } };
}

/** The rebind job a person's request makes for one binding: what POST /api/rotations queues, and what its dry run plans. */
export function requestedRebind(
  req: RotationRequest,
  key: { vaultUri: string; keyName: string; targetVersion: string | undefined },
  target: Target,
  origin: Pick<RebindJob, 'jobId' | 'createdAt' | 'actor'>,
): RebindJob {
  return {
    ...origin,
    kind: 'rebind',
    trigger: 'manual',
    vaultUri: key.vaultUri,
    keyName: key.keyName,
    accountId: target.account.id,
    ...(target.scope ? { encryptionScope: target.scope.name } : {}),
    force: req.force ?? false,
    priorAttempts: 0,
    ...(key.targetVersion ? { targetVersion: key.targetVersion } : {}),
    ...(req.keyVersion ? { versionNamed: true } : {}),
    ...(req.accountId ? { accountNamed: true } : {}),
    ...(req.reason ? { reason: req.reason } : {}),
  };
}
