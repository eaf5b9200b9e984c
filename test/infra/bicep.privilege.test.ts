// Least privilege: where every role assignment applies and what it grants, the two custom roles' exact actions,
// the Key Vault permission models, and the data roles on storage and telemetry.
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { descendants, isPlainObject, paramsUsed, property, propertyPath, reachable, Scope, stringLiteral, type Declaration, type Node, type Value } from './bicep';
import { appSettings, asStrings, files, GUID, infraFile, loadInfraFixture, main, moduleCall, only, ROLE, roleIds, symbolAt, value } from './infraFixture';

/** The writer role at the accounts' scopes: read an account, PATCH it, poll the PATCH (infra/modules/accounts-role.bicep). */
const ACCOUNT_ROLE_ACTIONS = [
  'Microsoft.CognitiveServices/accounts/read',
  'Microsoft.CognitiveServices/accounts/write',
  'Microsoft.CognitiveServices/locations/operationResults/read',
];
/** The discovery reader at each SUBSCRIPTION_IDS subscription: accounts.list() and vaults.listBySubscription() (infra/modules/discovery-role.bicep). */
const DISCOVERY_ROLE_ACTIONS = ['Microsoft.CognitiveServices/accounts/read', 'Microsoft.KeyVault/vaults/read'];
const ACCESS_POLICY_KEY_PERMISSIONS = ['get', 'list', 'rotate', 'getrotationpolicy'];
/** Role assignments without a resource `scope` live only here: at the resource groups or subscriptions the accountScopes parameter names. */
const ACCOUNT_ASSIGNMENT_MODULES = {
  resourceGroup: 'infra/modules/accounts-access-rg.bicep',
  subscription: 'infra/modules/accounts-access-subscription.bicep',
};
/** The one other scope-less assignment: the read-only discovery role, subscription-wide by design (list calls are authorised there). */
const DISCOVERY_ASSIGNMENT_MODULE = 'infra/modules/discovery-access-subscription.bicep';
/** Parameter values for evaluating main.bicep: mixed-case ids, spaces, a repeated subscription and an empty entry. */
const SUB_A = '0b1e5e7a-3c4d-4e5f-8a9b-0c1d2e3f4a5b';
const SUB_B = '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
const SUB_C = '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a';
const ACCOUNT_SCOPES = `/subscriptions/${SUB_A.toUpperCase()}/resourceGroups/rg-openai, /subscriptions/${SUB_A}/resourceGroups/rg-ai ,,/subscriptions/${SUB_B}`;

before(loadInfraFixture);

describe('least privilege', () => {
  test('role assignments: resource scope (or the accounts\' scopes from the parameter, or the discovery reader\'s subscriptions), guid() names, role ids in named variables', () => {
    const assignments = files.flatMap((f) => f.resources('Microsoft.Authorization/roleAssignments').map((a) => ({ file: f, a })));
    assert.ok(assignments.length >= 7, `expected the storage, telemetry, dead-letter, vault and accounts assignments, found ${assignments.length}`);
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
      assert.ok(allowed.includes(file.rel), `${at} has no resource scope; only the accounts' and the discovery assignment modules may do that`);
    }
    assert.equal(main.resources('Microsoft.Authorization/roleAssignments').length, 0, 'main.bicep assigns nothing at the subscription itself');

    // The accounts' assignment modules run once per scope the parameter names; subscription-wide only for subscription ids.
    for (const [kind, rel] of Object.entries(ACCOUNT_ASSIGNMENT_MODULES)) {
      const { call } = moduleCall(path.posix.relative('infra', rel));
      assert.ok(call.loop, `${rel} is called once per scope`);
      assert.deepEqual([...paramsUsed(main, call.loop.iterable)], ['accountScopes'], `${rel} iterates the accountScopes parameter`);
      const segments = kind === 'subscription' ? '3' : '5';
      const filter = reachable(main, call.loop.iterable).find((n) => n.type === 'binary_expression' && n.text.includes('split(') && n.text.endsWith(`== ${segments}`));
      assert.ok(filter, `${rel} only receives ${kind} ids (${segments} path segments)`);
      assert.equal(propertyPath(call.body, 'params.roleDefinitionName')?.text, 'accountsRole.outputs.roleDefinitionName', `${rel} assigns the writer role`);
    }

    // Evaluated with real parameter values: resource-group entries stay resource groups, subscription entries subscriptions.
    const scope = new Scope(main, undefined, new Map([['accountScopes', ACCOUNT_SCOPES]]));
    const iterated = (rel: string): Value => scope.evaluate(moduleCall(path.posix.relative('infra', rel)).call.loop?.iterable);
    assert.deepEqual(iterated(ACCOUNT_ASSIGNMENT_MODULES.resourceGroup), [`/subscriptions/${SUB_A.toUpperCase()}/resourceGroups/rg-openai`, `/subscriptions/${SUB_A}/resourceGroups/rg-ai`]);
    assert.deepEqual(iterated(ACCOUNT_ASSIGNMENT_MODULES.subscription), [`/subscriptions/${SUB_B}`]);
  });

  test('the discovery reader is assigned at every subscription in the effective SUBSCRIPTION_IDS, and nowhere else', () => {
    const { call } = moduleCall(path.posix.relative('infra', DISCOVERY_ASSIGNMENT_MODULE));
    assert.ok(call.loop, 'the discovery assignment module is called once per subscription');
    const [subscriptionVariable] = call.loop.variables;
    const target = property(call.body, 'scope');
    assert.equal(target?.type, 'call_expression');
    assert.equal(target?.childForFieldName('function')?.text, 'subscription', 'deployed at subscription scope');
    assert.deepEqual(target?.childForFieldName('arguments')?.namedChildren.map((n) => n.text), [subscriptionVariable], 'at the subscription of the current iteration');
    assert.equal(propertyPath(call.body, 'params.roleDefinitionName')?.text, 'discoveryRole.outputs.roleDefinitionName', 'assigns the discovery reader, never the writer');
    assert.equal(propertyPath(call.body, 'params.principalId')?.text, 'functionApp.outputs.principalId');
    const module = infraFile(DISCOVERY_ASSIGNMENT_MODULE);
    assert.equal(module.targetScope, 'subscription');
    const assignments = module.resources('Microsoft.Authorization/roleAssignments');
    assert.equal(assignments.length, 1);
    assert.equal(property(assignments[0]?.body, 'scope'), undefined, 'the assignment covers the whole subscription');

    // The subscriptions iterated are exactly the app's SUBSCRIPTION_IDS, for each way of setting the parameters.
    const cases: { subscriptionIds: string; expected: string[] }[] = [
      { subscriptionIds: '', expected: [SUB_A, SUB_B] },
      { subscriptionIds: ' , ', expected: [SUB_A, SUB_B] },
      { subscriptionIds: `${SUB_C}, ${SUB_A.toUpperCase()},${SUB_C}`, expected: [SUB_C, SUB_A] },
    ];
    for (const { subscriptionIds, expected } of cases) {
      const bound = new Map<string, Value>([['accountScopes', ACCOUNT_SCOPES], ['subscriptionIds', subscriptionIds]]);
      const settings = appSettings(bound);
      assert.equal(settings.SUBSCRIPTION_IDS, expected.join(','), `SUBSCRIPTION_IDS for subscriptionIds="${subscriptionIds}"`);
      assert.deepEqual(new Scope(main, undefined, bound).evaluate(call.loop.iterable), expected, `discovery assignments for subscriptionIds="${subscriptionIds}"`);
      const role = moduleCall('modules/discovery-role.bicep', bound);
      assert.deepEqual(value(role.scope, only(role.scope, 'Microsoft.Authorization/roleDefinitions').body, 'properties.assignableScopes'), expected.map((id) => `/subscriptions/${id}`), 'assignable exactly there');
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
    const definitions = files.flatMap((f) => f.resources('Microsoft.Authorization/roleDefinitions'));
    assert.equal(definitions.length, 2, 'the writer and the discovery reader');
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
    // The role names differ per environment, so two environments in one tenant do not collide.
    assert.notEqual(main.byName.get('accountsRoleDefinitionName')?.value?.text, main.byName.get('discoveryRoleDefinitionName')?.value?.text);
    const writer = moduleCall('modules/accounts-role.bicep', new Map([['accountScopes', ACCOUNT_SCOPES]]));
    assert.deepEqual(
      value(writer.scope, only(writer.scope, 'Microsoft.Authorization/roleDefinitions').body, 'properties.assignableScopes'),
      [`/subscriptions/${SUB_A.toUpperCase()}/resourceGroups/rg-openai`, `/subscriptions/${SUB_A}/resourceGroups/rg-ai`, `/subscriptions/${SUB_B}`],
      'the writer is assignable at the accounts\' scopes only (not at the vault)',
    );
  });

  test('Key Vault: access policy ADDS get/list/rotate/getrotationpolicy, or RBAC grants Crypto Officer, chosen by vaultPermissionModel', () => {
    const { call, scope } = moduleCall('modules/key-vault-access.bicep');
    assert.deepEqual([...paramsUsed(main, propertyPath(call.body, 'params.permissionModel') as Node)], ['vaultPermissionModel']);
    const allowed = main.byName.get('vaultPermissionModel')?.decorators.find((d) => d.text.startsWith('@allowed'));
    assert.deepEqual(new Set(asStrings(new Scope(main).evaluate(allowed?.namedChildren[0]?.childForFieldName('arguments')?.namedChildren[0]), 'allowed')), new Set(['accessPolicy', 'rbac']));

    const policy = only(scope, 'Microsoft.KeyVault/vaults/accessPolicies');
    assert.equal(value(scope, policy.body, 'name'), 'add', 'name "add" merges; "replace" would wipe the vault\'s other policies');
    assert.match(policy.condition?.text ?? '', /'accessPolicy'/);
    const entries = value(scope, policy.body, 'properties.accessPolicies');
    assert.ok(Array.isArray(entries) && entries.length === 1 && isPlainObject(entries[0]));
    const permissions = (entries[0] as { [key: string]: Value }).permissions;
    assert.ok(isPlainObject(permissions));
    assert.deepEqual(asStrings(permissions.keys ?? null, 'keys').sort(), [...ACCESS_POLICY_KEY_PERMISSIONS].sort());
    assert.deepEqual(permissions.secrets ?? [], []);
    assert.deepEqual(permissions.certificates ?? [], []);

    const rbac = scope.file.resources('Microsoft.Authorization/roleAssignments').filter((r) => r.condition);
    assert.equal(rbac.length, 1);
    assert.match(rbac[0]?.condition?.text ?? '', /'rbac'/);
    assert.deepEqual(roleIds(scope, rbac[0] as Declaration), [ROLE.keyVaultCryptoOfficer]);
    // The vault's ARM properties come from listing its subscription's vaults (discovery reader); a vault-scoped read adds nothing.
    assert.equal(scope.file.resources('Microsoft.Authorization/roleAssignments').length, 1, 'no other role at the vault');
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
