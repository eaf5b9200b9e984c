import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startArmStandIn, type ArmStandIn } from '../../dev/armStandIn';
import { localCredential } from '../../dev/credential';
import { startKeyVaultStandIn, type KeyVaultStandIn } from '../../dev/keyVaultStandIn';
import { loopbackAgent } from '../../dev/tls';
import { KeyVaultKeyStore } from '../../shared/adapters/keyVault';
import { KeyVaultManagementDirectory } from '../../shared/adapters/keyVaultManagement';
import { ManagedHsmRoleGrants } from '../../shared/adapters/managedHsmRbac';
import { rbacProof } from '../../shared/domain/access';
import { DependencyError, VaultNotAllowedError } from '../../shared/errors';
import { readFixture } from '../support/fixtures';

const PRINCIPAL = '33333333-aaaa-4bbb-8ccc-000000000003';
const OTHER = '44444444-aaaa-4bbb-8ccc-000000000004';

describe('Managed HSM: the same KeyClient, local RBAC on the HSM, managedHSMs through ARM', () => {
  let hsm: KeyVaultStandIn;
  let arm: ArmStandIn;
  const options = () => ({ agent: loopbackAgent(hsm.ca), disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } });
  const keys = () => new KeyVaultKeyStore({ credential: localCredential, allowedHostSuffixes: ['.managedhsm.localhost:*'], clientOptions: options() });
  const grants = () => new ManagedHsmRoleGrants({ credential: localCredential, isAllowedHost: (uri) => keys().isAllowedVault(uri), clientOptions: options() });

  before(async () => {
    hsm = await startKeyVaultStandIn({ name: 'hsm-int', managedHsm: true, eventWebhook: 'https://127.0.0.1:1/never' });
    arm = await startArmStandIn({ throttle: false });
  });
  after(async () => {
    await hsm.close();
    await arm.close();
  });

  it('serves a Managed HSM host name; KeyVaultKeyStore reads, lists and rotates there; no key events are published', async () => {
    assert.match(hsm.vaultUri, /^https:\/\/hsm-int\.managedhsm\.localhost:\d+\/$/);
    const { version } = await hsm.createKey('cmk');
    const store = keys();
    const read = await store.getKeyVersion(hsm.vaultUri, 'cmk', version);
    assert.deepEqual([read?.kty, read?.keySize], ['RSA-HSM', 2048]);
    const rotated = await store.rotateKey(hsm.vaultUri, 'cmk');
    assert.deepEqual((await store.listVersions(hsm.vaultUri, 'cmk')).map((v) => v.version).sort(), [version, rotated.version].sort());
    await hsm.deliveriesSettled();
    assert.deepEqual(hsm.events, [], 'Managed HSM has no Event Grid key events');
    assert.ok(hsm.requests.some((r) => r.status === 401), 'the challenge came first, as for a vault');
  });

  it("reads the principal's local role assignments (/, /keys, /keys/<name>) and the HSM's role definitions", async () => {
    hsm.assignRole(PRINCIPAL, 'Managed HSM Crypto Service Encryption User', '/keys/cmk');
    hsm.assignRole(PRINCIPAL, 'Managed HSM Crypto User', '/keys/other');
    hsm.assignRole(OTHER, 'Managed HSM Crypto User', '/');
    const read = await grants().read(hsm.vaultUri, PRINCIPAL);
    assert.equal(read.status, 'read');
    if (read.status !== 'read') return;
    assert.deepEqual(read.assignments.map((a) => a.scope).sort(), ['/keys/cmk', '/keys/other']);
    assert.ok(read.definitions.some((d) => d.roleName === 'Managed HSM Crypto Service Encryption User'));
    assert.deepEqual(rbacProof({ plane: 'managed-hsm', target: '/keys/cmk', principalId: PRINCIPAL, ...read }).missing, []);
    const forOther = await grants().read(hsm.vaultUri, OTHER);
    assert.deepEqual(forOther.status === 'read' && rbacProof({ plane: 'managed-hsm', target: '/keys/cmk', principalId: OTHER, ...forOther }).missing, [], 'a role at / reaches every key');
  });

  it('a custom role with notDataActions is read as written', async () => {
    const role = hsm.defineRole('wrap only', ['Microsoft.KeyVault/managedHsm/keys/*'], ['Microsoft.KeyVault/managedHsm/keys/unwrap/action']);
    const principal = '55555555-aaaa-4bbb-8ccc-000000000005';
    hsm.assignRole(principal, role, '/keys');
    const read = await grants().read(hsm.vaultUri, principal);
    assert.deepEqual(read.status === 'read' && rbacProof({ plane: 'managed-hsm', target: '/keys/cmk', principalId: principal, ...read }).missing, ['unwrapKey']);
  });

  it('a 403 on either read names the local RBAC data action the service lacks', async () => {
    hsm.denyRbacRead('roleAssignments');
    const assignments = await grants().read(hsm.vaultUri, PRINCIPAL);
    hsm.denyRbacRead('roleAssignments', false);
    assert.equal(assignments.status === 'denied' && assignments.permission, 'Microsoft.KeyVault/managedHsm/roleAssignments/read/action');
    hsm.denyRbacRead('roleDefinitions');
    const definitions = await grants().read(hsm.vaultUri, PRINCIPAL);
    hsm.denyRbacRead('roleDefinitions', false);
    assert.equal(definitions.status === 'denied' && definitions.permission, 'Microsoft.KeyVault/managedHsm/roleDefinitions/read/action');
  });

  it('calls no host outside KEY_VAULT_HOST_SUFFIXES, and other failures are DependencyErrors', async () => {
    await assert.rejects(grants().read('https://evil.example.net/', PRINCIPAL), VaultNotAllowedError);
    hsm.fail({ method: 'GET', path: /roleAssignments$/i, status: 500 });
    await assert.rejects(grants().read(hsm.vaultUri, PRINCIPAL), (e: unknown) => e instanceof DependencyError && e.retryable);
  });

  it('a vault (not an HSM) has no local RBAC routes', async () => {
    const vault = await startKeyVaultStandIn({ name: 'kv-plain' });
    try {
      const plain = new ManagedHsmRoleGrants({ credential: localCredential, isAllowedHost: () => true, clientOptions: { tlsOptions: { ca: vault.ca }, disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } } });
      await assert.rejects(plain.read(vault.vaultUri, PRINCIPAL), (e: unknown) => e instanceof DependencyError && e.statusCode === 404);
    } finally {
      await vault.close();
    }
  });

  it('the directory finds an HSM among managedHSMs (REST example), maps local RBAC and purge protection, and reads it fresh', async () => {
    const example = readFixture<{ parameters: Record<string, string>; responses: { '200': { body: object } } }>('keyvault-mgmt-2026-02-01-managedhsm/ManagedHsm_Get.json');
    arm.putManagedHsm(example.responses['200'].body);
    const directory = new KeyVaultManagementDirectory({
      credential: localCredential, endpoint: arm.url, subscriptionIds: [example.parameters['subscriptionId'] ?? ''], clientOptions: { tlsOptions: { ca: arm.ca }, retryOptions: { maxRetries: 0 } },
    });
    const found = await directory.findVault('https://westus.hsm1.managedhsm.azure.net/keys/cmk');
    assert.deepEqual([found?.kind, found?.name, found?.enableRbacAuthorization, found?.enableSoftDelete, found?.enablePurgeProtection, found?.accessPolicies], ['managedHsm', 'hsm1', true, true, false, []]);
    // Key ids name the HSM as <name>.managedhsm.azure.net (DESIGN §9); the example's hsmUri has a region before it.
    assert.equal((await directory.findVault('https://hsm1.managedhsm.azure.net/'))?.name, 'hsm1');
    assert.equal(await directory.findVault('https://hsm2.managedhsm.azure.net/'), undefined);
    const gets = () => arm.requests.filter((r) => r.method === 'GET' && /\/managedHSMs\/hsm1$/i.test(r.path)).length;
    const before = gets();
    assert.equal((await directory.readVault('https://westus.hsm1.managedhsm.azure.net'))?.name, 'hsm1');
    assert.equal(gets() - before, 1, 'readVault GETs the resource itself');
    assert.equal(arm.requests.filter((r) => /\/providers\/Microsoft\.KeyVault\/vaults$/i.test(r.path)).length, 0, 'an HSM host lists no vaults');
  });
});
