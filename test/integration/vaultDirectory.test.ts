import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startArmStandIn, type ArmStandIn } from '../../dev/armStandIn';
import { localCredential } from '../../dev/credential';
import { KeyVaultManagementDirectory } from '../../shared/adapters/keyVaultManagement';
import { DependencyError } from '../../shared/errors';
import { readFixture } from '../support/fixtures';

const SUB_A = 'aaaaaaaa-0000-0000-0000-000000000001';
const SUB_B = 'bbbbbbbb-0000-0000-0000-000000000002';
const SUB_OTHER = 'cccccccc-0000-0000-0000-000000000003';
const TENANT = '72f988bf-0000-0000-0000-000000000000';
const PRINCIPAL = '11111111-aaaa-bbbb-cccc-000000000001';

function vaultResource(subscription: string, name: string, properties: Record<string, unknown> = {}) {
  return {
    id: `/subscriptions/${subscription}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/${name}`,
    name, type: 'Microsoft.KeyVault/vaults', location: 'eastus', tags: {},
    properties: {
      tenantId: TENANT, sku: { family: 'A', name: 'standard' }, vaultUri: `https://${name}.vault.azure.net/`,
      accessPolicies: [], enableSoftDelete: true, enablePurgeProtection: true, ...properties,
    },
  };
}

describe('KeyVaultManagementDirectory: the real KeyVaultManagementClient against the ARM stand-in', () => {
  let arm: ArmStandIn;
  const directory = (subscriptionIds: string[] = [SUB_A, SUB_B]) =>
    new KeyVaultManagementDirectory({
      credential: localCredential,
      endpoint: arm.url,
      subscriptionIds,
      clientOptions: { tlsOptions: { ca: arm.ca }, retryOptions: { maxRetries: 0 } },
    });
  const listings = (subscription: string): number =>
    arm.requests.filter((r) => r.path.toLowerCase() === `/subscriptions/${subscription}/providers/microsoft.keyvault/vaults`).length;

  before(async () => {
    arm = await startArmStandIn({ pageSize: 2, throttle: false });
    arm.putVault(vaultResource(SUB_A, 'kv-a1'));
    arm.putVault(vaultResource(SUB_A, 'kv-a2', { enableRbacAuthorization: true, enableSoftDelete: false, enablePurgeProtection: null }));
    arm.putVault(vaultResource(SUB_A, 'kv-target', {
      accessPolicies: [
        { tenantId: TENANT, objectId: PRINCIPAL, permissions: { keys: ['get', 'wrapKey', 'unwrapKey'], secrets: ['get'] } },
        { tenantId: TENANT, objectId: 'someone-else', applicationId: 'app-1', permissions: { keys: ['all'] } },
        { tenantId: TENANT, objectId: 'reader', permissions: { secrets: ['list'] } },
      ],
    }));
    arm.putVault({ ...vaultResource(SUB_B, 'kv-b1'), location: 'westeurope' });
    arm.putVault(vaultResource(SUB_B, 'kv-b2'));
    arm.putVault(vaultResource(SUB_OTHER, 'kv-elsewhere'));
  });
  after(() => arm.close());

  it('prepare() lists each subscription once ahead of the first lookup; fresh() lists again with the same clients', async () => {
    const base = directory();
    const before = [listings(SUB_A), listings(SUB_B)];
    base.prepare();
    assert.equal((await base.findVault('https://kv-b2.vault.azure.net/'))?.name, 'kv-b2');
    assert.equal((await base.findVault('https://kv-a1.vault.azure.net/'))?.name, 'kv-a1');
    assert.deepEqual([listings(SUB_A) - before[0]!, listings(SUB_B) - before[1]!], [2, 1], 'once per subscription (two pages in A)');
    const again = base.fresh();
    assert.equal((await again.findVault('https://kv-a1.vault.azure.net/'))?.name, 'kv-a1');
    assert.deepEqual([listings(SUB_A) - before[0]!, listings(SUB_B) - before[1]!], [4, 2], 'a fresh directory reads ARM again');
  });

  it('finds the vault on the second page of its subscription and maps it', async () => {
    const vaults = directory();
    const found = await vaults.findVault('HTTPS://KV-TARGET.vault.azure.net');
    assert.deepEqual(found, {
      id: `/subscriptions/${SUB_A}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-target`,
      name: 'kv-target', location: 'eastus', tenantId: TENANT, vaultUri: 'https://kv-target.vault.azure.net/',
      enableSoftDelete: true, enablePurgeProtection: true,
      accessPolicies: [
        { tenantId: TENANT, objectId: PRINCIPAL, keys: ['get', 'wrapKey', 'unwrapKey'] },
        { tenantId: TENANT, objectId: 'reader', keys: [] },
      ],
    }, 'the compound (applicationId) entry is left out; an entry without key permissions has none');
    assert.equal((await vaults.findVault('https://kv-b1.vault.azure.net/'))?.location, 'westeurope');
  });

  it('maps RBAC, soft delete off and purge protection absent', async () => {
    const found = await directory().findVault('https://kv-a2.vault.azure.net/');
    assert.equal(found?.enableRbacAuthorization, true);
    assert.equal(found?.enableSoftDelete, false);
    assert.equal(found?.enablePurgeProtection, undefined);
  });

  it('lists each subscription once per instance (following nextLink), and again after clear()', async () => {
    const before = { a: listings(SUB_A), b: listings(SUB_B) };
    const vaults = directory();
    await Promise.all(['kv-a1', 'kv-b2', 'kv-target', 'kv-b1'].map((name) => vaults.findVault(`https://${name}.vault.azure.net/`)));
    assert.equal(listings(SUB_A) - before.a, 2, 'three vaults at two per page: two pages, read once');
    assert.equal(listings(SUB_B) - before.b, 1);
    arm.putVault(vaultResource(SUB_B, 'kv-new'));
    assert.equal(await vaults.findVault('https://kv-new.vault.azure.net/'), undefined, 'the listing is kept for the sweep');
    vaults.clear();
    assert.equal((await vaults.findVault('https://kv-new.vault.azure.net/'))?.name, 'kv-new');
  });

  it('answers undefined for an unknown URI and for a vault outside the configured subscriptions', async () => {
    const vaults = directory();
    assert.equal(await vaults.findVault('https://no-such-vault.vault.azure.net/'), undefined);
    assert.equal(await vaults.findVault('https://kv-elsewhere.vault.azure.net/'), undefined);
    assert.equal((await directory([SUB_OTHER]).findVault('https://kv-elsewhere.vault.azure.net/'))?.name, 'kv-elsewhere');
  });

  it('reads the REST example vault (Vaults_Get body served by the list)', async () => {
    const example = readFixture<{ parameters: Record<string, string>; responses: { '200': { body: object } } }>(
      'keyvault-mgmt-2026-02-01/getVault.json',
    );
    arm.putVault(example.responses['200'].body);
    const found = await directory([example.parameters['subscriptionId'] ?? '']).findVault('https://sample-vault.vault.azure.net/');
    assert.equal(found?.name, 'sample-vault');
    assert.equal(found?.location, 'westus');
    assert.equal(found?.enablePurgeProtection, undefined, 'the example vault has no purge protection');
    assert.ok(found?.accessPolicies[0]?.keys.includes('unwrapKey'));
  });

  it('readVault reads the vault itself, so a changed access policy is seen; freshForMs reuses one read for a while', async () => {
    const gets = () => arm.requests.filter((r) => r.method === 'GET' && /\/vaults\/kv-b2$/i.test(r.path)).length;
    const vaults = directory();
    assert.deepEqual((await vaults.readVault('https://kv-b2.vault.azure.net/'))?.accessPolicies, []);
    arm.putVault(vaultResource(SUB_B, 'kv-b2', { accessPolicies: [{ tenantId: TENANT, objectId: PRINCIPAL, permissions: { keys: ['get'] } }] }));
    assert.deepEqual((await vaults.findVault('https://kv-b2.vault.azure.net/'))?.accessPolicies, [], 'the listing is kept');
    assert.deepEqual((await vaults.readVault('https://kv-b2.vault.azure.net/'))?.accessPolicies.map((p) => p.keys), [['get']], 'the read is not');
    const kept = new KeyVaultManagementDirectory({
      credential: localCredential, endpoint: arm.url, subscriptionIds: [SUB_B], freshForMs: 60_000, clientOptions: { tlsOptions: { ca: arm.ca }, retryOptions: { maxRetries: 0 } },
    });
    const before = gets();
    await Promise.all([kept.readVault('https://kv-b2.vault.azure.net/'), kept.readVault('https://KV-B2.vault.azure.net')]);
    await kept.readVault('https://kv-b2.vault.azure.net/');
    assert.equal(gets() - before, 1);
    assert.equal(await kept.readVault('https://kv-gone.vault.azure.net/'), undefined);
  });

  it('a 403 listing vaults is a DependencyError that is not retryable', async () => {
    arm.fail({ method: 'GET', path: new RegExp(`/subscriptions/${SUB_B}/providers/Microsoft.KeyVault/vaults$`, 'i'), status: 403 });
    await assert.rejects(directory().findVault('https://no-such-vault.vault.azure.net/'), (e: unknown) => {
      assert.ok(e instanceof DependencyError);
      assert.equal(e.statusCode, 403);
      assert.equal(e.code, 'AuthorizationFailed');
      assert.equal(e.retryable, false);
      return true;
    });
  });

  it('a 500 listing vaults is a retryable DependencyError; the failed listing is read again next time', async () => {
    const vaults = directory([SUB_A]);
    arm.fail({ method: 'GET', path: /\/providers\/Microsoft\.KeyVault\/vaults$/i, status: 500, times: 2 });
    await assert.rejects(vaults.findVault('https://kv-target.vault.azure.net/'), (e: unknown) => {
      assert.ok(e instanceof DependencyError);
      assert.equal(e.statusCode, 500);
      assert.equal(e.retryable, true);
      return true;
    });
    await assert.rejects(vaults.findVault('https://kv-target.vault.azure.net/'), DependencyError);
    assert.equal((await vaults.findVault('https://kv-target.vault.azure.net/'))?.name, 'kv-target');
  });

  it('a vault not found while one subscription refuses (403) and another has a passing fault (503) is a retryable error: it may be in the one not read', async () => {
    arm.fail({ method: 'GET', path: new RegExp(`/subscriptions/${SUB_A}/providers/Microsoft.KeyVault/vaults$`, 'i'), status: 403 });
    arm.fail({ method: 'GET', path: new RegExp(`/subscriptions/${SUB_B}/providers/Microsoft.KeyVault/vaults$`, 'i'), status: 503 });
    await assert.rejects(directory().findVault('https://kv-b1.vault.azure.net/'), (e: unknown) => e instanceof DependencyError && e.retryable && e.statusCode === 503);
  });

  it('a vault found in a readable subscription is returned even when another subscription fails', async () => {
    arm.fail({ method: 'GET', path: new RegExp(`/subscriptions/${SUB_B}/providers/Microsoft.KeyVault/vaults$`, 'i'), status: 503 });
    assert.equal((await directory().findVault('https://kv-a1.vault.azure.net/'))?.name, 'kv-a1');
  });
});
