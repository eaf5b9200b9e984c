import type { FindingCode } from '../shared/domain/findings';
import { accountArmId, accountResource, principalOf, vaultResource, type AccountSeed } from './estate';
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
 * A mixed estate for the compliance sweep: one healthy account and one for each problem the
 * Azure OpenAI CMK doc warns about (drift, expiry soon, purge protection off, user-assigned
 * identity, wrong region, 4096-bit key).
 */
export async function seedComplianceEstate(stack: LocalStack, prefix = 'c'): Promise<ComplianceEstate> {
  const now = Date.now();
  const main = await stack.addVault({ name: `${prefix}-kv-main`, location: 'eastus' });
  const purgeable = await stack.addVault({ name: `${prefix}-kv-purgeable`, recoveryLevel: 'Recoverable+Purgeable', location: 'eastus' });
  const quiet = { publish: false, kty: 'RSA' as const, size: 2048 };
  const { version: v1 } = await main.createKey('cmk-main', { ...quiet, createdOn: new Date(now - 2 * DAY) });
  const { version: v2 } = await main.createKey('cmk-main', { ...quiet, createdOn: new Date(now - DAY) });
  const { version: expiring } = await main.createKey('cmk-expiring', { ...quiet, expiresOn: new Date(now + 10 * DAY) });
  const { version: big } = await main.createKey('cmk-4096', { ...quiet, size: 4096 });
  const { version: purge } = await purgeable.createKey('cmk-purge', quiet);

  const bind = (vault: typeof main, name: string, version: string) => ({ vaultUri: vault.vaultUri, name, version });
  const seeds: Record<string, AccountSeed> = {
    healthy: { name: `${prefix}-aoai-healthy`, key: bind(main, 'cmk-main', v2) },
    drift: { name: `${prefix}-aoai-drift`, key: bind(main, 'cmk-main', v1) },
    expiring: { name: `${prefix}-aoai-expiring`, key: bind(main, 'cmk-expiring', expiring) },
    purgeable: { name: `${prefix}-aoai-purgeable`, key: bind(purgeable, 'cmk-purge', purge) },
    userAssigned: {
      name: `${prefix}-aoai-user-identity`,
      key: bind(main, 'cmk-main', v2),
      identity: { type: 'UserAssigned', userAssignedIdentities: { [`/subscriptions/x/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${prefix}-id`]: {} } },
    },
    wrongRegion: { name: `${prefix}-aoai-westus`, location: 'westus', key: bind(main, 'cmk-main', v2) },
    rsa4096: { name: `${prefix}-aoai-rsa4096`, kind: 'AIServices', key: bind(main, 'cmk-4096', big) },
  };
  for (const seed of Object.values(seeds)) stack.arm.putAccount(accountResource(seed));
  const principals = Object.values(seeds).map((s) => principalOf(s.name));
  stack.arm.putVault(vaultResource(main, { grantKeysTo: principals }));
  stack.arm.putVault(vaultResource(purgeable, { purgeProtection: false, grantKeysTo: principals }));

  return {
    accounts: Object.fromEntries(Object.entries(seeds).map(([label, seed]) => [label, accountArmId(seed.name)])),
    expected: {
      healthy: [],
      drift: ['version-drift'],
      expiring: ['key-near-expiry'],
      purgeable: ['vault-not-recoverable'],
      userAssigned: ['identity-not-system-assigned', 'access-unverifiable'],
      wrongRegion: ['region-mismatch'],
      rsa4096: ['unsupported-key'],
    },
    driftTarget: v2,
  };
}
