import { createHash } from 'node:crypto';
import type { ArmStandIn } from './armStandIn';
import type { KeyVaultStandIn } from './keyVaultStandIn';
import { LOCAL_SUBSCRIPTION } from './stack';

export const TENANT = '72f988bf-0000-4000-8000-00000000aaaa';

export interface AccountSeed {
  name: string;
  kind?: string;
  /** Default: the local stack's subscription. */
  subscriptionId?: string;
  resourceGroup?: string;
  location?: string;
  /** Key name and version to bind ('' or absent version: versionless); absent key = Microsoft-managed keys (no encryption property). */
  key?: { vaultUri: string; name: string; version?: string; identityClientId?: string };
  tags?: Record<string, string>;
  /** Default: system-assigned in TENANT. */
  identity?: Record<string, unknown>;
}

export function accountArmId(name: string, resourceGroup = 'rg-ai', subscriptionId = LOCAL_SUBSCRIPTION): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.CognitiveServices/accounts/${name}`;
}

/** An account as ARM returns it, in the shape of the Accounts_Create / Get examples. */
export function accountResource(seed: AccountSeed): Record<string, unknown> {
  const location = seed.location ?? 'eastus';
  const properties: Record<string, unknown> = {
    endpoint: `https://${seed.name}.openai.azure.com/`,
    provisioningState: 'Succeeded',
  };
  if (seed.key) {
    properties.encryption = {
      keySource: 'Microsoft.KeyVault',
      keyVaultProperties: {
        keyName: seed.key.name, keyVaultUri: seed.key.vaultUri, ...(seed.key.version !== undefined ? { keyVersion: seed.key.version } : {}),
        ...(seed.key.identityClientId ? { identityClientId: seed.key.identityClientId } : {}),
      },
    };
  }
  return {
    id: accountArmId(seed.name, seed.resourceGroup, seed.subscriptionId),
    name: seed.name,
    type: 'Microsoft.CognitiveServices/accounts',
    kind: seed.kind ?? 'OpenAI',
    location,
    sku: { name: 'S0' },
    etag: '"00000000-0000-0000-0000-000000000000"',
    identity: seed.identity ?? { type: 'SystemAssigned', principalId: principalOf(seed.name), tenantId: TENANT },
    tags: seed.tags ?? {},
    properties,
  };
}

export interface DemoEstate {
  cmkV1: string;
  bound: string[];
  untouched: string[];
}

/**
 * The demo estate: key `cmk` (RSA 2048, v1) and five accounts — three bound to cmk/v1 (two
 * OpenAI, one AIServices), one bound to another key, one on Microsoft-managed keys.
 */
export async function seedDemoEstate(vault: KeyVaultStandIn, arm: ArmStandIn): Promise<DemoEstate> {
  const { version: cmkV1 } = await vault.createKey('cmk', { kty: 'RSA', size: 2048, publish: false });
  const { version: otherV1 } = await vault.createKey('billing-cmk', { kty: 'RSA', size: 2048, publish: false });
  const cmk = { vaultUri: vault.vaultUri, name: 'cmk', version: cmkV1 };
  const seeds: AccountSeed[] = [
    { name: 'aoai-chat-prod', key: cmk },
    { name: 'aoai-batch-prod', key: cmk },
    { name: 'ais-hub-prod', kind: 'AIServices', key: cmk },
    { name: 'aoai-billing', key: { vaultUri: vault.vaultUri, name: 'billing-cmk', version: otherV1 } },
    { name: 'aoai-sandbox' },
  ];
  for (const seed of seeds) arm.putAccount(accountResource(seed));
  grantKeyAccess(arm, vault, seeds.map((s) => principalOf(s.name)));
  return {
    cmkV1,
    bound: seeds.slice(0, 3).map((s) => accountArmId(s.name)),
    untouched: seeds.slice(3).map((s) => accountArmId(s.name)),
  };
}

/** A GUID derived from a name, so the same seed always gets the same principal id. */
export function stableGuid(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The system-assigned principal id the seed gives an account. */
export function principalOf(accountName: string): string {
  return stableGuid(accountName);
}

/** A Microsoft.KeyVault/vaults resource for a stand-in vault, in the shape of Vaults_Get. */
export function vaultResource(
  vault: KeyVaultStandIn,
  o: { location?: string; purgeProtection?: boolean; softDelete?: boolean; rbac?: boolean; grantKeysTo?: string[] } = {},
): Record<string, unknown> {
  return {
    id: vault.armId,
    name: vault.name,
    type: 'Microsoft.KeyVault/vaults',
    location: o.location ?? 'eastus',
    tags: {},
    properties: {
      tenantId: TENANT,
      sku: { family: 'A', name: 'standard' },
      accessPolicies: (o.grantKeysTo ?? []).map((objectId) => ({ tenantId: TENANT, objectId, permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] } })),
      vaultUri: vault.vaultUri,
      enableSoftDelete: o.softDelete ?? true,
      ...(o.purgeProtection === false ? {} : { enablePurgeProtection: true }),
      enableRbacAuthorization: o.rbac ?? false,
      provisioningState: 'Succeeded',
      publicNetworkAccess: 'Enabled',
    },
  };
}

/**
 * Access-policy vault: adds get, wrapKey, unwrapKey for these principals to the vault as ARM holds it (registering
 * the vault with ARM first when it is not there yet), so that the rebind preflight can prove access.
 */
export function grantKeyAccess(arm: ArmStandIn, vault: KeyVaultStandIn, principalIds: string[]): void {
  const resource = arm.vault(vault.armId) ?? vaultResource(vault);
  const policies = resource.properties.accessPolicies as Array<{ objectId: string }>;
  for (const objectId of principalIds) {
    if (!policies.some((p) => p.objectId === objectId)) policies.push({ tenantId: TENANT, objectId, permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] } } as never);
  }
  arm.putVault(resource);
}

/** RBAC vault or Managed HSM: assigns the least-privilege encryption role (or `role`) to the principal, by default on the whole vault. */
export function grantRole(arm: ArmStandIn, vault: KeyVaultStandIn, principalId: string, o: { role?: string; scope?: string } = {}): void {
  if (vault.managedHsm) vault.assignRole(principalId, o.role ?? 'Managed HSM Crypto Service Encryption User', o.scope ?? '/keys');
  else arm.assignRole(principalId, o.role ?? 'Key Vault Crypto Service Encryption User', o.scope ?? vault.armId);
}

/** A Microsoft.KeyVault/managedHSMs resource for a stand-in HSM, in the shape of ManagedHsms_Get (purge protection on unless asked). */
export function managedHsmResource(vault: KeyVaultStandIn, o: { location?: string; purgeProtection?: boolean } = {}): Record<string, unknown> {
  return {
    id: vault.armId,
    name: vault.name,
    type: 'Microsoft.KeyVault/managedHSMs',
    location: o.location ?? 'eastus',
    sku: { name: 'Standard_B1', family: 'B' },
    tags: {},
    properties: {
      tenantId: TENANT,
      hsmUri: vault.vaultUri.replace(/\/$/, ''),
      initialAdminObjectIds: [stableGuid('hsm-admin')],
      enableSoftDelete: true,
      softDeleteRetentionInDays: 90,
      enablePurgeProtection: o.purgeProtection ?? true,
      provisioningState: 'Succeeded',
      statusMessage: 'ManagedHsm is functional.',
    },
  };
}

/** A user-assigned identity as ARM lists it on an account: resource id, object (principal) id and client id, derived from its name. */
export function userAssignedIdentity(name: string): { resourceId: string; principalId: string; clientId: string } {
  return {
    resourceId: `/subscriptions/${LOCAL_SUBSCRIPTION}/resourceGroups/rg-identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
    principalId: stableGuid(`uai-principal:${name}`),
    clientId: stableGuid(`uai-client:${name}`),
  };
}

/**
 * `npm run dev`'s estate: the demo estate, its vault readable through ARM (access policies for every account), and two
 * accounts for `cmk-rotator audit` to report: aoai-legacy, bound to a key whose only version is disabled (critical), and
 * aoai-drift, left on the older of its key's two versions (drift).
 */
export async function seedDevEstate(vault: KeyVaultStandIn, arm: ArmStandIn): Promise<DemoEstate & { broken: string; drifting: string }> {
  const demo = await seedDemoEstate(vault, arm);
  const quiet = { kty: 'RSA', size: 2048, publish: false } as const;
  const { version: disabled } = await vault.createKey('legacy-cmk', { ...quiet, enabled: false });
  const { version: older } = await vault.createKey('drift-cmk', { ...quiet, createdOn: new Date(Date.now() - 86_400_000) });
  await vault.createKey('drift-cmk', quiet);
  const legacy: AccountSeed = { name: 'aoai-legacy', key: { vaultUri: vault.vaultUri, name: 'legacy-cmk', version: disabled } };
  const drift: AccountSeed = { name: 'aoai-drift', key: { vaultUri: vault.vaultUri, name: 'drift-cmk', version: older } };
  for (const seed of [legacy, drift]) arm.putAccount(accountResource(seed));
  const names = [...demo.bound, ...demo.untouched].map((id) => id.split('/').pop() ?? '').concat(legacy.name, drift.name);
  arm.putVault(vaultResource(vault, { grantKeysTo: names.map(principalOf) }));
  return { ...demo, broken: accountArmId(legacy.name), drifting: accountArmId(drift.name) };
}
