import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startArmStandIn, type ArmStandIn } from '../../dev/armStandIn';
import { localCredential } from '../../dev/credential';
import { ArmRoleGrants } from '../../shared/adapters/authorization';
import { rbacProof } from '../../shared/domain/access';
import { DependencyError } from '../../shared/errors';
import { authClient } from '../support/armTestKit';
import { keyVaultBuiltInRoles } from '../support/builtInRoles';

const SUB = 'aaaaaaaa-0000-4000-8000-000000000001';
const OTHER_SUB = 'bbbbbbbb-0000-4000-8000-000000000002';
const VAULT_ID = `/subscriptions/${SUB}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-rbac`;
const PRINCIPAL = '11111111-aaaa-4bbb-8ccc-000000000001';
const SOMEONE_ELSE = '22222222-aaaa-4bbb-8ccc-000000000002';

describe('ArmRoleGrants: the real AuthorizationManagementClient against the ARM stand-in', () => {
  let arm: ArmStandIn;
  const grants = () => new ArmRoleGrants({ credential: localCredential, endpoint: arm.url, clientOptions: { tlsOptions: { ca: arm.ca }, retryOptions: { maxRetries: 0 } } });

  before(async () => {
    arm = await startArmStandIn({ throttle: false, graph: { managementGroups: { 'mg-platform': [SUB] } } });
    arm.assignRole(PRINCIPAL, 'Key Vault Crypto Service Encryption User', `${VAULT_ID}/keys/cmk`);
    arm.assignRole(PRINCIPAL, 'Key Vault Crypto User', `/subscriptions/${SUB}/resourceGroups/rg-other`);
    arm.assignRole(PRINCIPAL, 'Key Vault Crypto Officer', '/providers/Microsoft.Management/managementGroups/mg-platform');
    arm.assignRole(PRINCIPAL, 'Key Vault Administrator', `/subscriptions/${OTHER_SUB}`);
    arm.assignRole(SOMEONE_ELSE, 'Key Vault Administrator', VAULT_ID);
  });
  after(() => arm.close());

  it("lists the principal's assignments at, above and below the vault (principalId eq), and reads each role they name", async () => {
    const read = await grants().read(VAULT_ID, PRINCIPAL);
    assert.equal(read.status, 'read');
    if (read.status !== 'read') return;
    assert.deepEqual(read.assignments.map((a) => a.scope).sort(), [`${VAULT_ID}/keys/cmk`, '/providers/Microsoft.Management/managementGroups/mg-platform'].sort(),
      'below (the key) and above (a management group holding the subscription); not beside, not another subscription, not another principal');
    assert.deepEqual(read.definitions.map((d) => d.roleName).sort(), ['Key Vault Crypto Officer', 'Key Vault Crypto Service Encryption User']);
    assert.deepEqual(rbacProof({ plane: 'vault-rbac', target: `${VAULT_ID}/keys/cmk`, principalId: PRINCIPAL, ...read }).missing, []);
    assert.deepEqual(rbacProof({ plane: 'vault-rbac', target: `${VAULT_ID}/keys/cmk2`, principalId: PRINCIPAL, ...read }).roles, ['Key Vault Crypto Officer'], 'the key grant does not reach another key');
  });

  it('reads each role definition once per instance', async () => {
    const reader = grants();
    const definitionReads = () => arm.requests.filter((r) => /\/roleDefinitions\//i.test(r.path)).length;
    const before = definitionReads();
    await reader.read(VAULT_ID, PRINCIPAL);
    await reader.read(VAULT_ID, PRINCIPAL);
    assert.equal(definitionReads() - before, 2, 'two roles, read once each');
  });

  it('a role definition that no longer exists grants nothing and is no error', async () => {
    arm.putRoleAssignment({
      properties: { roleDefinitionId: '/providers/Microsoft.Authorization/roleDefinitions/deadbeef-0000-4000-8000-000000000000', principalId: SOMEONE_ELSE, scope: VAULT_ID },
      id: `${VAULT_ID}/providers/Microsoft.Authorization/roleAssignments/orphan`, type: 'Microsoft.Authorization/roleAssignments', name: 'orphan',
    });
    const read = await grants().read(VAULT_ID, SOMEONE_ELSE);
    assert.equal(read.status === 'read' && read.assignments.length, 2);
    assert.deepEqual(read.status === 'read' && read.definitions.map((d) => d.roleName), ['Key Vault Administrator']);
  });

  it('a 403 on either read is the service lacking that permission, said as such', async () => {
    arm.denyAuthorizationRead('roleAssignments');
    const assignments = await grants().read(VAULT_ID, PRINCIPAL);
    arm.denyAuthorizationRead('roleAssignments', false);
    assert.deepEqual(assignments.status === 'denied' && assignments.permission, 'Microsoft.Authorization/roleAssignments/read');
    assert.match(assignments.status === 'denied' ? assignments.detail : '', /does not have authorization to perform action 'Microsoft\.Authorization\/roleAssignments\/read'/);
    arm.denyAuthorizationRead('roleDefinitions');
    const definitions = await grants().read(VAULT_ID, PRINCIPAL);
    arm.denyAuthorizationRead('roleDefinitions', false);
    assert.deepEqual(definitions.status === 'denied' && definitions.permission, 'Microsoft.Authorization/roleDefinitions/read');
  });

  it('any other failure is a DependencyError for the caller to retry', async () => {
    arm.fail({ method: 'GET', path: /roleAssignments$/i, status: 503 });
    await assert.rejects(grants().read(VAULT_ID, PRINCIPAL), (e: unknown) => e instanceof DependencyError && e.retryable && e.statusCode === 503);
  });

  it('atScope() lists everyone at or above the scope; an unsupported filter is a 400', async () => {
    const atScope = [];
    for await (const a of authClient(arm).roleAssignments.listForScope(`${VAULT_ID.slice(1)}/keys/cmk`, { filter: 'atScope()' })) atScope.push(a.principalId);
    assert.deepEqual(atScope.sort(), [PRINCIPAL, PRINCIPAL, SOMEONE_ELSE, SOMEONE_ELSE].sort());
    await assert.rejects(authClient(arm).roleAssignments.listForScope(VAULT_ID.slice(1), { filter: `assignedTo('${PRINCIPAL}')` }).next(), (e: { statusCode?: number }) => e.statusCode === 400);
  });

  it("serves the built-in crypto roles exactly as the vendored docs extract lists them", async () => {
    for (const role of keyVaultBuiltInRoles()) {
      const served = await authClient(arm).roleDefinitions.getById(`providers/Microsoft.Authorization/roleDefinitions/${role.id}`);
      const p = served.permissions?.[0];
      assert.deepEqual([served.roleName, p?.actions, p?.notActions, p?.dataActions, p?.notDataActions], [role.roleName, role.actions, role.notActions, role.dataActions, role.notDataActions]);
      assert.equal(served.id, `/providers/Microsoft.Authorization/roleDefinitions/${role.id}`);
    }
  });

  it("pages the principal's assignments under its filter: a later page holds no one else's", async () => {
    const paged = await startArmStandIn({ throttle: false, pageSize: 1 });
    try {
      paged.assignRole(PRINCIPAL, 'Key Vault Crypto Service Encryption User', `${VAULT_ID}/keys/cmk`);
      paged.assignRole(SOMEONE_ELSE, 'Key Vault Administrator', VAULT_ID);
      paged.assignRole(PRINCIPAL, 'Key Vault Crypto User', VAULT_ID);
      const reader = new ArmRoleGrants({ credential: localCredential, endpoint: paged.url, clientOptions: { tlsOptions: { ca: paged.ca }, retryOptions: { maxRetries: 0 } } });
      const read = await reader.read(VAULT_ID, PRINCIPAL);
      assert.equal(read.status, 'read');
      if (read.status !== 'read') return;
      assert.deepEqual(read.assignments.map((a) => [a.principalId, a.scope]).sort(), [[PRINCIPAL, VAULT_ID], [PRINCIPAL, `${VAULT_ID}/keys/cmk`]]);
      assert.deepEqual(read.definitions.map((d) => d.roleName).sort(), ['Key Vault Crypto Service Encryption User', 'Key Vault Crypto User']);
    } finally {
      await paged.close();
    }
  });
});
