import type { FindingCode } from '../shared/domain/findings';
import { accountArmId, accountResource, grantRole, principalOf, TENANT, userAssignedIdentity, vaultResource, type AccountSeed } from './estate';
import type { LocalStack } from './stack';

const DAY = 86_400_000;

export interface ComplianceEstate {
  /** Label -> account id. */
  accounts: Record<string, string>;
  /** Label -> the finding codes a sweep must report, nothing more. */
  expected: Record<string, FindingCode[]>;
  /** The version the drifting account should move to in enforce mode. */
  driftTarget: string;
}

/**
 * A mixed estate for the compliance sweep: healthy accounts (one on an RBAC vault whose role is proven, one AI
 * Foundry account reading its key through a user-assigned identity) and one for each problem the CMK docs warn
 * about (drift, expiry soon, purge protection off, user-assigned identity on Azure OpenAI, wrong region, 4096-bit
 * key, no role on an RBAC vault).
 */
export async function seedComplianceEstate(stack: LocalStack, prefix = 'c'): Promise<ComplianceEstate> {
  const now = Date.now();
  const main = await stack.addVault({ name: `${prefix}-kv-main`, location: 'eastus' });
  const purgeable = await stack.addVault({ name: `${prefix}-kv-purgeable`, recoveryLevel: 'Recoverable+Purgeable', location: 'eastus' });
  const rbac = await stack.addVault({ name: `${prefix}-kv-rbac`, location: 'eastus' });
  const quiet = { publish: false, kty: 'RSA' as const, size: 2048 };
  const { version: v1 } = await main.createKey('cmk-main', { ...quiet, createdOn: new Date(now - 2 * DAY) });
  const { version: v2 } = await main.createKey('cmk-main', { ...quiet, createdOn: new Date(now - DAY) });
  const { version: expiring } = await main.createKey('cmk-expiring', { ...quiet, expiresOn: new Date(now + 10 * DAY) });
  const { version: big } = await main.createKey('cmk-4096', { ...quiet, size: 4096 });
  const { version: purge } = await purgeable.createKey('cmk-purge', quiet);
  const { version: roleKey } = await rbac.createKey('cmk-rbac', quiet);
  const openAiIdentity = userAssignedIdentity(`${prefix}-id`);
  const foundryIdentity = userAssignedIdentity(`${prefix}-foundry-id`);
  const withUserAssigned = (uai: typeof openAiIdentity) => ({
    type: 'UserAssigned', tenantId: TENANT, userAssignedIdentities: { [uai.resourceId]: { principalId: uai.principalId, clientId: uai.clientId } },
  });

  const bind = (vault: typeof main, name: string, version: string) => ({ vaultUri: vault.vaultUri, name, version });
  const seeds: Record<string, AccountSeed> = {
    healthy: { name: `${prefix}-aoai-healthy`, key: bind(main, 'cmk-main', v2) },
    drift: { name: `${prefix}-aoai-drift`, key: bind(main, 'cmk-main', v1) },
    expiring: { name: `${prefix}-aoai-expiring`, key: bind(main, 'cmk-expiring', expiring) },
    purgeable: { name: `${prefix}-aoai-purgeable`, key: bind(purgeable, 'cmk-purge', purge) },
    userAssigned: {
      name: `${prefix}-aoai-user-identity`,
      key: { ...bind(main, 'cmk-main', v2), identityClientId: openAiIdentity.clientId },
      identity: withUserAssigned(openAiIdentity),
    },
    foundryUserAssigned: {
      name: `${prefix}-ais-user-identity`, kind: 'AIServices',
      key: { ...bind(main, 'cmk-main', v2), identityClientId: foundryIdentity.clientId },
      identity: withUserAssigned(foundryIdentity),
    },
    rbacGranted: { name: `${prefix}-aoai-rbac-granted`, key: bind(rbac, 'cmk-rbac', roleKey) },
    rbacMissing: { name: `${prefix}-aoai-rbac-missing`, key: bind(rbac, 'cmk-rbac', roleKey) },
    wrongRegion: { name: `${prefix}-aoai-westus`, location: 'westus', key: bind(main, 'cmk-main', v2) },
    rsa4096: { name: `${prefix}-aoai-rsa4096`, kind: 'AIServices', key: bind(main, 'cmk-4096', big) },
  };
  for (const seed of Object.values(seeds)) stack.arm.putAccount(accountResource(seed));
  const principals = [...Object.values(seeds).map((s) => principalOf(s.name)), openAiIdentity.principalId, foundryIdentity.principalId];
  stack.arm.putVault(vaultResource(main, { grantKeysTo: principals }));
  stack.arm.putVault(vaultResource(purgeable, { purgeProtection: false, grantKeysTo: principals }));
  // RBAC: the role is proven for one account and absent for the other.
  stack.arm.putVault(vaultResource(rbac, { rbac: true }));
  grantRole(stack.arm, rbac, principalOf(seeds.rbacGranted?.name ?? ''));

  return {
    accounts: Object.fromEntries(Object.entries(seeds).map(([label, seed]) => [label, accountArmId(seed.name)])),
    expected: {
      healthy: [],
      drift: ['version-drift'],
      expiring: ['key-near-expiry'],
      purgeable: ['vault-not-recoverable'],
      userAssigned: ['identity-not-system-assigned'],
      foundryUserAssigned: [],
      rbacGranted: [],
      rbacMissing: ['access-missing'],
      wrongRegion: ['region-mismatch'],
      rsa4096: ['unsupported-key'],
    },
    driftTarget: v2,
  };
}
