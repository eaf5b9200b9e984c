// The estate the fakes are made of: one subscription, one vault VAULT with key cmk, accounts bound to its versions.
import type { VaultInfo } from '../../../shared/domain/model';
import type { AccountState, EncryptionScopeState, KeyVersionInfo } from '../../../shared/domain/model';

export const SUB = '11111111-2222-3333-4444-555555555555';
export const VAULT = 'https://kv-one.vault.azure.net/';

export function accountId(name: string, rg = 'rg-ai'): string {
  return `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.CognitiveServices/accounts/${name}`;
}

export function hex(n: number): string {
  return n.toString(16).padStart(32, '0');
}

export function keyVersion(version: string, over: Partial<KeyVersionInfo> = {}): KeyVersionInfo {
  return {
    vaultUri: VAULT,
    keyName: 'cmk',
    version,
    enabled: true,
    kty: 'RSA',
    keySize: 2048,
    keyOps: ['wrapKey', 'unwrapKey'],
    createdOn: new Date('2026-01-01T00:00:00Z'),
    recoveryLevel: 'Recoverable',
    ...over,
  };
}

export function boundAccount(name: string, version: string, over: Partial<AccountState> = {}): AccountState {
  const id = accountId(name);
  return {
    id,
    subscriptionId: SUB,
    resourceGroup: 'rg-ai',
    name,
    kind: 'OpenAI',
    location: 'eastus',
    tags: {},
    provisioningState: 'Succeeded',
    keySource: 'Microsoft.KeyVault',
    binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: version },
    identity: { type: 'SystemAssigned', principalId: 'p', tenantId: 't' },
    ...over,
  };
}

/** A scope of an account made by boundAccount, bound to `version` of VAULT's key cmk. */
export function boundScope(account: string, name: string, version: string, over: Partial<EncryptionScopeState> = {}): EncryptionScopeState {
  return {
    id: `${accountId(account)}/encryptionScopes/${name}`, accountId: accountId(account), name, keySource: 'Microsoft.KeyVault',
    binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: version }, provisioningState: 'Succeeded', state: 'Enabled', ...over,
  };
}

/** An access-policy vault at VAULT (unless `over` says otherwise) granting get, wrapKey, unwrapKey to these principals of tenant 't'. */
export function accessPolicyVault(over: Partial<VaultInfo> = {}, principals: string[] = ['p']): VaultInfo {
  return {
    id: `/subscriptions/${SUB}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-one`, name: 'kv-one', location: 'eastus', tenantId: 't',
    vaultUri: VAULT, enableSoftDelete: true, enablePurgeProtection: true, enableRbacAuthorization: false,
    accessPolicies: principals.map((objectId) => ({ tenantId: 't', objectId, keys: ['get', 'wrapKey', 'unwrapKey'] })),
    ...over,
  };
}
