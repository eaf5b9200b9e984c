// Least privilege: where every role assignment applies and what it grants, the two custom roles' exact actions,
// the Key Vault permission models, and the data roles on storage and telemetry.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { descendants, isPlainObject, property, propertyPath, Scope, stringLiteral, type Declaration, type Value } from './bicep';
import { appSettings, asStrings, deployments, files, GUID, infraFile, loadInfraFixture, main, moduleCall, only, paramValue, ROLE, roleIds, symbolAt, value } from './infraFixture';

/**
 * The writer role at the accounts' scopes (infra/modules/accounts-role.bicep): read an account, PATCH it, read and PUT
 * its encryption scopes (ENCRYPTION_SCOPES, on by default; a child resource has actions of its own), poll the updates.
 */
const ACCOUNT_ROLE_ACTIONS = [
  'Microsoft.CognitiveServices/accounts/read',
  'Microsoft.CognitiveServices/accounts/write',
  'Microsoft.CognitiveServices/accounts/encryptionScopes/read',
  'Microsoft.CognitiveServices/accounts/encryptionScopes/write',
  'Microsoft.CognitiveServices/locations/operationResults/read',
];
/**
 * The discovery reader (infra/modules/discovery-role.bicep): accounts.list() and each account's encryption scopes
 * (the sweep, the fan-out), vaults and managed HSMs listed or read for the precondition audit, and the role
 * assignments and definitions that show who may use a vault's or HSM's keys.
 */
const DISCOVERY_ROLE_ACTIONS = [
  'Microsoft.CognitiveServices/accounts/read',
  'Microsoft.CognitiveServices/accounts/encryptionScopes/read',
  'Microsoft.KeyVault/vaults/read',
  'Microsoft.KeyVault/managedHSMs/read',
  'Microsoft.Authorization/roleAssignments/read',
  'Microsoft.Authorization/roleDefinitions/read',
];
const ACCESS_POLICY_KEY_PERMISSIONS = ['get', 'list', 'rotate'];
/** Role assignments without a resource `scope` live only here: at the resource groups or subscriptions the accountScopes parameter names. */
const ACCOUNT_ASSIGNMENT_MODULES = {
  resourceGroup: 'modules/accounts-access-rg.bicep',
  subscription: 'modules/accounts-access-subscription.bicep',
};
/** The one other scope-less assignment: the read-only discovery role, subscription-wide by design (list calls are authorised there). */
const DISCOVERY_ASSIGNMENT_MODULE = 'modules/discovery-access-subscription.bicep';
/** The discovery reader at one vault or HSM whose subscription is not scanned. */
const KEY_STORE_READER_MODULE = 'modules/discovery-access-key-store.bicep';
/** Parameter values for evaluating main.bicep: mixed-case ids, spaces, a repeated subscription and an empty entry. */
const SUB_A = '0b1e5e7a-3c4d-4e5f-8a9b-0c1d2e3f4a5b';
const SUB_B = '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
const SUB_C = '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a';
const ACCOUNT_SCOPES = `/subscriptions/${SUB_A.toUpperCase()}/resourceGroups/rg-openai, /subscriptions/${SUB_A}/resourceGroups/rg-ai ,,/subscriptions/${SUB_B}`;
const VAULT_A = `/subscriptions/${SUB_A}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-cmk`;
const VAULT_C = `/subscriptions/${SUB_C}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-cmk`;
const HSM_C = `/subscriptions/${SUB_C}/resourceGroups/rg-hsm/providers/Microsoft.KeyVault/managedHSMs/hsm-cmk`;

function params(extra: Record<string, Value> = {}): Map<string, Value> {
  return new Map(Object.entries({ environmentName: 'cmk-prod', location: 'westeurope', accountScopes: ACCOUNT_SCOPES, keyVaultResourceId: VAULT_A, vaultPermissionModel: 'rbac', ...extra }));
}

/** Each deployed custom role definition (of one role module): its GUID name, assignable scopes and where it is created. */
function definitions(module: string, bound: Map<string, Value>): { name: string; assignableScopes: string[]; at: string }[] {
  return deployments(module, bound).map((d) => {
    const role = only(d.scope, 'Microsoft.Authorization/roleDefinitions');
    return { name: String(value(d.scope, role.body, 'name')), assignableScopes: asStrings(value(d.scope, role.body, 'properties.assignableScopes'), 'assignableScopes'), at: d.at };
  });
}

before(loadInfraFixture);

describe('least privilege', () => {
  test('role assignments: resource scope (or the accounts\' scopes from the parameter, or the discovery reader\'s subscriptions), guid() names, role ids in named variables', () => {
    const assignments = files.flatMap((f) => f.resources('Microsoft.Authorization/roleAssignments').map((a) => ({ file: f, a })));
    assert.ok(assignments.length >= 9, `expected the storage, telemetry, dead-letter, vault, key store reader and accounts assignments, found ${assignments.length}`);
    for (const { file, a } of assignments) {
      const at = file.where(a.node);
      const name = property(a.body, 'name');
      assert.equal(name?.type, 'call_expression', `${at} name`);
      assert.equal(name?.childForFieldName('function')?.text, 'guid', `${at} name should be guid(scope, principal, role)`);
      assert.equal(name?.childForFieldName('arguments')?.namedChildren.length, 3, `${at} guid(scope, principal, role)`);
      const roleId = propertyPath(a.body, 'properties.roleDefinitionId');
      assert.ok(roleId && !descendants(roleId).some((n) => n.type === 'string' && GUID.test(n.text)), `${at} role id should come from a named variable`);
      assert.equal(stringLiteral(propertyPath(a.body, 'properties.principalType')), 'ServicePrincipal', `${at} principalType`);

      const scopeNode = property(a.body, 'scope');
      if (scopeNode) {
        const target = symbolAt(file, scopeNode);
        assert.equal(target?.kind, 'resource', `${at} scope must be a resource symbol, not ${scopeNode.text}`);
        continue;
      }
      // No scope: the assignment applies to the module's own resource group or subscription.
      const allowed = file.targetScope === 'subscription' ? [ACCOUNT_ASSIGNMENT_MODULES.subscription, DISCOVERY_ASSIGNMENT_MODULE] : [ACCOUNT_ASSIGNMENT_MODULES.resourceGroup];
      assert.ok(allowed.map((m) => `infra/${m}`).includes(file.rel), `${at} has no resource scope; only the accounts' and the discovery assignment modules may do that`);
    }
    for (const rel of ['infra/main.bicep', 'infra/modules/service-access.bicep']) {
      assert.equal(infraFile(rel).resources('Microsoft.Authorization/roleAssignments').length, 0, `${rel} assigns nothing at the deployment subscription itself`);
    }

    // Evaluated with real parameter values: resource-group entries stay resource groups, subscription entries subscriptions.
    const bound = params();
    const at = (module: string): string[] => deployments(module, bound).map((d) => d.at);
    assert.deepEqual(at(ACCOUNT_ASSIGNMENT_MODULES.resourceGroup), [`/subscriptions/${SUB_A.toUpperCase()}/resourceGroups/rg-openai`, `/subscriptions/${SUB_A}/resourceGroups/rg-ai`]);
    assert.deepEqual(at(ACCOUNT_ASSIGNMENT_MODULES.subscription), [`/subscriptions/${SUB_B}`]);
    // Each assignment uses the writer definition made for its own scope, in its own subscription.
    const writers = definitions('modules/accounts-role.bicep', bound);
    for (const module of Object.values(ACCOUNT_ASSIGNMENT_MODULES)) {
      for (const d of deployments(module, bound)) {
        const used = paramValue(d.scope, 'roleDefinitionName');
        const writer = writers.find((w) => w.name === used);
        assert.ok(writer, `${module} at ${d.at} assigns ${String(used)}, which is not a writer definition`);
        assert.deepEqual(writer.assignableScopes, [d.at]);
        assert.equal(writer.at, d.at.split('/').slice(0, 3).join('/'), 'the definition lives in the assignment\'s subscription');
      }
    }
  });

  test('the discovery reader is assigned at every subscription in the effective SUBSCRIPTION_IDS, and at a vault or HSM outside them', () => {
    const module = infraFile(`infra/${DISCOVERY_ASSIGNMENT_MODULE}`);
    assert.equal(module.targetScope, 'subscription');
    const assignments = module.resources('Microsoft.Authorization/roleAssignments');
    assert.equal(assignments.length, 1);
    assert.equal(property(assignments[0]?.body, 'scope'), undefined, 'the assignment covers the whole subscription');

    // The subscriptions covered are exactly the app's SUBSCRIPTION_IDS, for each way of setting the parameters.
    const cases: { subscriptionIds: string; expected: string[]; vault: string; hsm: string; keyStores: string[] }[] = [
      { subscriptionIds: '', expected: [SUB_A, SUB_B], vault: VAULT_A, hsm: '', keyStores: [] },
      { subscriptionIds: ' , ', expected: [SUB_A, SUB_B], vault: VAULT_C, hsm: '', keyStores: [VAULT_C] },
      { subscriptionIds: `${SUB_C}, ${SUB_A.toUpperCase()},${SUB_C}`, expected: [SUB_C, SUB_A], vault: VAULT_C, hsm: HSM_C, keyStores: [] },
      { subscriptionIds: SUB_B, expected: [SUB_B], vault: VAULT_A, hsm: HSM_C, keyStores: [VAULT_A, HSM_C] },
    ];
    for (const { subscriptionIds, expected, vault, hsm, keyStores } of cases) {
      const bound = params({ subscriptionIds, keyVaultResourceId: vault, managedHsmResourceId: hsm });
      const what = `subscriptionIds="${subscriptionIds}", vault ${vault.split('/')[2]}, hsm ${hsm ? hsm.split('/')[2] : 'none'}`;
      assert.equal(appSettings(bound).SUBSCRIPTION_IDS, expected.join(','), `SUBSCRIPTION_IDS for ${what}`);
      const readers = definitions('modules/discovery-role.bicep', bound);
      assert.deepEqual(readers.map((r) => r.assignableScopes), [...expected.map((id) => [`/subscriptions/${id}`]), ...keyStores.map((id) => [id])], `reader definitions for ${what}`);
      for (const r of readers) assert.equal(r.at, r.assignableScopes[0]?.split('/').slice(0, 3).join('/'), 'each definition lives in its scope\'s subscription');

      const subscriptionReaders = deployments(DISCOVERY_ASSIGNMENT_MODULE, bound);
      assert.deepEqual(subscriptionReaders.map((d) => d.at), expected.map((id) => `/subscriptions/${id}`), `subscription assignments for ${what}`);
      const storeReaders = deployments(KEY_STORE_READER_MODULE, bound);
      assert.deepEqual(storeReaders.map((d) => paramValue(d.scope, 'keyStoreId')), keyStores, `key store assignments for ${what}`);
      for (const d of [...subscriptionReaders, ...storeReaders]) {
        const used = paramValue(d.scope, 'roleDefinitionName');
        assert.ok(readers.some((r) => r.name === used), `${d.scope.file.rel} at ${d.at} assigns a discovery reader definition`);
      }
      // Each key store reader is scoped to the vault or the HSM itself, whichever the id names.
      for (const d of storeReaders) {
        const id = String(paramValue(d.scope, 'keyStoreId'));
        assert.equal(d.at, id.split('/').slice(0, 5).join('/'), 'deployed in the key store\'s resource group');
        const active = d.scope.file.resources('Microsoft.Authorization/roleAssignments').filter((a) => d.scope.evaluate(a.condition) === true);
        assert.equal(active.length, 1, `one assignment for ${id}`);
        const target = symbolAt(d.scope.file, property(active[0]?.body, 'scope'));
        assert.equal(target?.target, id.includes('/managedHSMs/') ? 'Microsoft.KeyVault/managedHSMs' : 'Microsoft.KeyVault/vaults');
        assert.equal(value(d.scope, target?.body, 'name'), id.split('/').pop());
      }
    }
  });

  test('no Owner or Contributor anywhere', () => {
    for (const file of files) {
      for (const n of descendants(file.root).filter((d) => d.type === 'string')) {
        assert.ok(![ROLE.contributor, ROLE.owner].includes(n.text.replace(/'/g, '').toLowerCase()), `${file.where(n)} grants Owner/Contributor`);
      }
    }
  });

  test('two custom roles: the writer and the discovery reader, each with exactly its actions and no data actions', () => {
    const declaring = files.filter((f) => f.resources('Microsoft.Authorization/roleDefinitions').length > 0).map((f) => f.rel);
    assert.deepEqual(declaring.sort(), ['infra/modules/accounts-role.bicep', 'infra/modules/discovery-role.bicep'], 'only the writer and the discovery reader define roles');
    for (const [module, actions] of [
      ['modules/accounts-role.bicep', ACCOUNT_ROLE_ACTIONS],
      ['modules/discovery-role.bicep', DISCOVERY_ROLE_ACTIONS],
    ] as const) {
      const { scope } = moduleCall(module);
      const role = only(scope, 'Microsoft.Authorization/roleDefinitions');
      assert.equal(value(scope, role.body, 'properties.type'), 'CustomRole');
      const permissions = value(scope, role.body, 'properties.permissions');
      assert.ok(Array.isArray(permissions) && permissions.length === 1 && isPlainObject(permissions[0]));
      const [permission] = permissions as { [key: string]: Value }[];
      assert.deepEqual(asStrings(permission?.actions ?? null, 'actions'), [...actions], `${module} actions`);
      for (const key of ['notActions', 'dataActions', 'notDataActions']) assert.deepEqual(permission?.[key] ?? [], [], `${module} ${key}`);
      const actionsNode = propertyPath(role.body, 'properties.permissions')?.namedChildren[0];
      assert.equal(symbolAt(scope.file, property(actionsNode, 'actions'))?.kind, 'var', `${module} keeps its actions in a named variable`);
    }
    const writers = definitions('modules/accounts-role.bicep', params());
    assert.deepEqual(
      writers.map((w) => w.assignableScopes),
      [[`/subscriptions/${SUB_A.toUpperCase()}/resourceGroups/rg-openai`], [`/subscriptions/${SUB_A}/resourceGroups/rg-ai`], [`/subscriptions/${SUB_B}`]],
      'the writer is assignable at the accounts\' scopes only (not at the vault), one definition per scope',
    );
  });

  test('Key Vault: access policy ADDS get/list/rotate/getrotationpolicy, or RBAC grants Crypto Officer, chosen by vaultPermissionModel', () => {
    const allowed = main.byName.get('vaultPermissionModel')?.decorators.find((d) => d.text.startsWith('@allowed'));
    assert.deepEqual(new Set(asStrings(new Scope(main).evaluate(allowed?.namedChildren[0]?.childForFieldName('arguments')?.namedChildren[0]), 'allowed')), new Set(['accessPolicy', 'rbac']));
    for (const model of ['accessPolicy', 'rbac']) {
      const [access, ...more] = deployments('modules/key-vault-access.bicep', params({ vaultPermissionModel: model, keyVaultResourceId: VAULT_C }));
      assert.ok(access && more.length === 0, 'one vault access deployment');
      assert.equal(access.at, `/subscriptions/${SUB_C}/resourceGroups/rg-keys`, 'in the vault\'s resource group');
      const policy = only(access.scope, 'Microsoft.KeyVault/vaults/accessPolicies');
      const rbac = only(access.scope, 'Microsoft.Authorization/roleAssignments');
      assert.equal(access.scope.evaluate(policy.condition), model === 'accessPolicy', `access policy deployed for ${model}`);
      assert.equal(access.scope.evaluate(rbac.condition), model === 'rbac', `role assignment deployed for ${model}`);
    }

    const { scope } = moduleCall('modules/key-vault-access.bicep');
    const policy = only(scope, 'Microsoft.KeyVault/vaults/accessPolicies');
    assert.equal(value(scope, policy.body, 'name'), 'add', 'name "add" merges; "replace" would wipe the vault\'s other policies');
    const entries = value(scope, policy.body, 'properties.accessPolicies');
    assert.ok(Array.isArray(entries) && entries.length === 1 && isPlainObject(entries[0]));
    const permissions = (entries[0] as { [key: string]: Value }).permissions;
    assert.ok(isPlainObject(permissions));
    assert.deepEqual(asStrings(permissions.keys ?? null, 'keys').sort(), [...ACCESS_POLICY_KEY_PERMISSIONS].sort());
    assert.deepEqual(permissions.secrets ?? [], []);
    assert.deepEqual(permissions.certificates ?? [], []);
    // The vault's ARM reads are the discovery reader's (subscription or key store reader); this module adds only the data role.
    assert.deepEqual(roleIds(scope, only(scope, 'Microsoft.Authorization/roleAssignments') as Declaration), [ROLE.keyVaultCryptoOfficer]);
  });

  test('storage and telemetry roles for the app are the data roles the host and the service need, on their resources', () => {
    const { scope } = moduleCall('modules/storage-access.bicep');
    const byRole = new Map<string, Declaration>();
    for (const a of scope.file.resources('Microsoft.Authorization/roleAssignments')) for (const id of roleIds(scope, a)) byRole.set(id, a);
    for (const [role, type] of [
      [ROLE.storageBlobDataOwner, 'Microsoft.Storage/storageAccounts'],
      [ROLE.storageQueueDataContributor, 'Microsoft.Storage/storageAccounts'],
      [ROLE.storageTableDataContributor, 'Microsoft.Storage/storageAccounts'],
      [ROLE.monitoringMetricsPublisher, 'Microsoft.Insights/components'],
    ] as const) {
      const a = byRole.get(role);
      assert.ok(a, `role ${role} is assigned`);
      assert.equal(symbolAt(scope.file, property(a.body, 'scope'))?.target, type, `role ${role} is scoped to the ${type}`);
    }
  });
});
