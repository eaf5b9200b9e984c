import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  actionMatches, DATA_ACTIONS, keyIdentity, proveKeyAccess, rbacProof, scopeApplies, type RoleAssignment, type RoleDefinition,
} from '../../shared/domain/access';
import type { VaultInfo } from '../../shared/domain/model';
import { asDefinition, keyVaultBuiltInRoles } from '../support/builtInRoles';
import { accessPolicyVault, boundAccount, hex } from '../support/fakes';

const SUB = '/subscriptions/11111111-2222-3333-4444-555555555555';
const VAULT_ID = `${SUB}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-one`;
const KEY = `${VAULT_ID}/keys/cmk`;
const P = 'p';
const roles = Object.fromEntries(keyVaultBuiltInRoles().map((r) => [r.roleName, asDefinition(r)]));
const role = (name: string): RoleDefinition => {
  const found = roles[name];
  assert.ok(found, `the fixture lists ${name}`);
  return found;
};
const assign = (definition: RoleDefinition, scope: string, over: Partial<RoleAssignment> = {}): RoleAssignment =>
  ({ scope, roleDefinitionId: `${SUB}/providers/Microsoft.Authorization/roleDefinitions/${definition.id.split('/').pop() ?? ''}`, principalId: P, ...over });
const custom = (dataActions: string[], notDataActions: string[] = []): RoleDefinition => ({ id: `/providers/Microsoft.Authorization/roleDefinitions/${hex(dataActions.length)}`, roleName: 'custom', permissions: [{ dataActions, notDataActions }] });
const proof = (assignments: RoleAssignment[], definitions: RoleDefinition[], target = KEY) =>
  rbacProof({ plane: 'vault-rbac', target, principalId: P, assignments, definitions });

describe('RBAC action patterns', () => {
  it('match exactly, by * wildcards anywhere, and without case', () => {
    assert.ok(actionMatches('Microsoft.KeyVault/vaults/keys/wrap/action', 'microsoft.keyvault/VAULTS/keys/wrap/action'));
    assert.ok(actionMatches('Microsoft.KeyVault/vaults/keys/*', 'Microsoft.KeyVault/vaults/keys/unwrap/action'));
    assert.ok(actionMatches('*', 'Microsoft.KeyVault/vaults/keys/read'));
    assert.ok(actionMatches('Microsoft.KeyVault/vaults/*/read', 'Microsoft.KeyVault/vaults/keys/read'));
    assert.equal(actionMatches('Microsoft.KeyVault/vaults/keys/read', 'Microsoft.KeyVault/vaults/keys/readX'), false);
    assert.equal(actionMatches('Microsoft.KeyVault/vaults/secrets/*', 'Microsoft.KeyVault/vaults/keys/read'), false);
    assert.equal(actionMatches('Microsoft.KeyVault/vaults.keys/read', 'Microsoft.KeyVault/vaultsXkeys/read'), false, 'a dot is a dot');
  });
});

describe('scopes: an assignment reaches the key from the key itself or above it, never from beside or below', () => {
  for (const scope of [SUB, `${SUB}/resourceGroups/rg-keys`, VAULT_ID, KEY, `${VAULT_ID.toUpperCase()}/keys/CMK/`, '/', '/providers/Microsoft.Management/managementGroups/mg1']) {
    it(`${scope} reaches the key`, () => assert.ok(scopeApplies(scope, KEY)));
  }
  for (const scope of [`${VAULT_ID}/keys/other`, `${VAULT_ID}/keys/cmk-2`, `${SUB}/resourceGroups/rg-keys-2`, `${SUB}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-one-b`, `${KEY}/versions`]) {
    it(`${scope} does not`, () => assert.equal(scopeApplies(scope, KEY), false));
  }
  it('Managed HSM local scopes: /, /keys and /keys/<name> reach the key; another key does not', () => {
    for (const scope of ['/', '/keys', '/keys/cmk', '/keys/CMK']) assert.ok(scopeApplies(scope, '/keys/cmk'), scope);
    assert.equal(scopeApplies('/keys/other', '/keys/cmk'), false);
  });
});

describe('the proof over the built-in roles of the vendored docs extract', () => {
  it('Crypto Service Encryption User at the vault grants get, wrapKey and unwrapKey', () => {
    assert.deepEqual(proof([assign(role('Key Vault Crypto Service Encryption User'), VAULT_ID)], Object.values(roles)), {
      granted: ['get', 'wrapKey', 'unwrapKey'], missing: [], roles: ['Key Vault Crypto Service Encryption User'],
    });
  });
  it('Crypto User at the subscription, Crypto Officer (keys/*) on the key, Administrator (vaults/*) at the group all grant', () => {
    for (const [name, scope] of [['Key Vault Crypto User', SUB], ['Key Vault Crypto Officer', KEY], ['Key Vault Administrator', `${SUB}/resourceGroups/rg-keys`]] as const) {
      assert.deepEqual(proof([assign(role(name), scope)], Object.values(roles)).missing, [], name);
    }
  });
  it('a grant on another key of the same vault, or for another principal, proves nothing', () => {
    const cseu = role('Key Vault Crypto Service Encryption User');
    assert.deepEqual(proof([assign(cseu, `${VAULT_ID}/keys/other`), assign(cseu, VAULT_ID, { principalId: 'q' })], [cseu]).missing, ['get', 'wrapKey', 'unwrapKey']);
  });
  it('control-plane actions ("*" as an action, like Owner) grant no data action', () => {
    const owner: RoleDefinition = { id: '/providers/Microsoft.Authorization/roleDefinitions/owner', roleName: 'Owner', permissions: [{ dataActions: [], notDataActions: [] }] };
    assert.deepEqual(proof([assign(owner, SUB)], [owner]).missing, ['get', 'wrapKey', 'unwrapKey']);
  });
});

describe('notDataActions, conditions, unknown roles', () => {
  it('notDataActions subtract within the role that names them', () => {
    const allButUnwrap = custom(['Microsoft.KeyVault/vaults/keys/*'], ['Microsoft.KeyVault/vaults/keys/unwrap/action']);
    assert.deepEqual(proof([assign(allButUnwrap, VAULT_ID)], [allButUnwrap]), { granted: ['get', 'wrapKey'], missing: ['unwrapKey'], roles: ['custom'] });
  });
  it("but are no deny: another role's grant still counts", () => {
    const allButUnwrap = custom(['*'], ['Microsoft.KeyVault/*/unwrap/action']);
    const cseu = role('Key Vault Crypto Service Encryption User');
    assert.deepEqual(proof([assign(allButUnwrap, VAULT_ID), assign(cseu, KEY)], [allButUnwrap, cseu]).missing, []);
  });
  it('a conditional assignment, or one naming a role definition that was not found, proves nothing', () => {
    const cseu = role('Key Vault Crypto Service Encryption User');
    assert.deepEqual(proof([assign(cseu, VAULT_ID, { condition: "@Resource[Microsoft.KeyVault/vaults/keys:name] StringEquals 'x'" })], [cseu]).missing.length, 3);
    assert.deepEqual(proof([assign(cseu, VAULT_ID)], []).missing.length, 3);
  });
  it('Managed HSM data actions are their own: a vault role does not open an HSM key', () => {
    const cseu = role('Key Vault Crypto Service Encryption User');
    const hsm = (definitions: RoleDefinition[]) => rbacProof({ plane: 'managed-hsm', target: '/keys/cmk', principalId: P, assignments: [assign(definitions[0] as RoleDefinition, '/keys')], definitions });
    assert.deepEqual(hsm([cseu]).missing, ['get', 'wrapKey', 'unwrapKey']);
    assert.deepEqual(hsm([custom(Object.values(DATA_ACTIONS['managed-hsm']))]).missing, []);
    assert.deepEqual(hsm([custom(['Microsoft.KeyVault/managedHsm/keys/*'], ['Microsoft.KeyVault/managedHsm/keys/read/action'])]).missing, ['get']);
  });
});

describe('which identity reads the key, and the verdict', () => {
  const uaiId = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1';
  it('identityClientId picks the user-assigned identity by client id; without it, the system-assigned one', () => {
    const account = boundAccount('a', hex(1), {
      identity: { type: 'SystemAssigned, UserAssigned', principalId: 'sys', userAssignedIdentities: { [uaiId]: { principalId: 'uai', clientId: 'CLIENT' } } },
    });
    assert.deepEqual(keyIdentity(account), { status: 'found', principalId: 'sys', assigned: 'system-assigned' });
    const viaClient = { ...account, binding: { ...account.binding!, identityClientId: 'client' } };
    assert.deepEqual(keyIdentity(viaClient), { status: 'found', principalId: 'uai', assigned: 'user-assigned', clientId: 'client' });
    assert.equal(keyIdentity({ ...account, identity: { type: 'None' } }).status, 'none');
  });
  const rbacVault: VaultInfo = accessPolicyVault({ id: VAULT_ID, enableRbacAuthorization: true, accessPolicies: [] });
  it('RBAC: granted, missing with the roles it saw, or unverifiable naming the read permission the service lacks', () => {
    const account = boundAccount('a', hex(1));
    const cseu = role('Key Vault Crypto Service Encryption User');
    const read = (assignments: RoleAssignment[]) => proveKeyAccess({ account, vault: rbacVault, keyName: 'cmk', grants: { status: 'read', assignments, definitions: [cseu, role('Key Vault Crypto User')] } });
    assert.deepEqual(read([assign(cseu, VAULT_ID)]), { status: 'granted' });
    const missing = read([assign(cseu, `${VAULT_ID}/keys/other`)]);
    assert.equal(missing.status, 'missing');
    assert.equal(missing.status === 'missing' && missing.evidence['roles'], 'none');
    const denied = proveKeyAccess({ account, vault: rbacVault, keyName: 'cmk', grants: { status: 'denied', permission: 'Microsoft.Authorization/roleDefinitions/read', detail: 'AuthorizationFailed' } });
    assert.equal(denied.status, 'unverifiable');
    assert.match(denied.status === 'unverifiable' ? denied.reason : '', /lacks Microsoft\.Authorization\/roleDefinitions\/read/);
  });
  it('access policies still decide for a vault without RBAC, whatever role grants exist', () => {
    const account = boundAccount('a', hex(1));
    assert.deepEqual(proveKeyAccess({ account, vault: accessPolicyVault(), keyName: 'cmk' }), { status: 'granted' });
    assert.equal(proveKeyAccess({ account, vault: accessPolicyVault({}, ['someone']), keyName: 'cmk' }).status, 'missing');
  });
});
