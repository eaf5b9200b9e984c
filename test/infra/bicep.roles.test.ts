// Re-provisioning with fewer ACCOUNT_SCOPES or SUBSCRIPTION_IDS: ARM refuses to remove an assignable scope from a
// custom role definition while an assignment there still uses it, so no definition may ever lose a scope. The design
// (one definition per scope, named from it) guarantees that every definition of the shorter run is exactly the one the
// longer run deployed, and that a dropped scope's definition is simply no longer managed.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Value } from './bicep';
import { asStrings, deployments, loadInfraFixture, only, paramValue, value } from './infraFixture';

const SUB = ['0b1e5e7a-3c4d-4e5f-8a9b-0c1d2e3f4a5b', '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f', '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a', '3e4f5a6b-7c8d-4e9f-8a1b-2c3d4e5f6a7b'] as const;
const rg = (sub: string, name: string): string => `/subscriptions/${sub}/resourceGroups/${name}`;
const VAULT = `${rg(SUB[3], 'rg-keys')}/providers/Microsoft.KeyVault/vaults/kv-cmk`;
const HSM = `${rg(SUB[3], 'rg-hsm')}/providers/Microsoft.KeyVault/managedHSMs/hsm-cmk`;
const ROLE_MODULES = ['modules/accounts-role.bicep', 'modules/discovery-role.bicep'];
const ASSIGNMENT_MODULES = ['modules/accounts-access-rg.bicep', 'modules/accounts-access-subscription.bicep', 'modules/discovery-access-subscription.bicep', 'modules/discovery-access-key-store.bicep'];

interface Definition {
  roleName: string;
  assignableScopes: string[];
  at: string;
}

function run(accountScopes: string[], subscriptionIds: string[], extra: Record<string, Value> = {}): { definitions: Map<string, Definition>; assignments: { module: string; at: string; roleDefinitionName: string }[] } {
  const bound = new Map<string, Value>(Object.entries({
    environmentName: 'cmk-prod',
    location: 'westeurope',
    accountScopes: accountScopes.join(','),
    subscriptionIds: subscriptionIds.join(','),
    keyVaultResourceId: VAULT,
    managedHsmResourceId: HSM,
    vaultPermissionModel: 'rbac',
    ...extra,
  }));
  const definitions = new Map<string, Definition>();
  for (const module of ROLE_MODULES) {
    for (const d of deployments(module, bound)) {
      const role = only(d.scope, 'Microsoft.Authorization/roleDefinitions');
      const name = String(value(d.scope, role.body, 'name'));
      assert.ok(!definitions.has(name), `role definition ${name} is deployed twice`);
      definitions.set(name, { roleName: String(value(d.scope, role.body, 'properties.roleName')), assignableScopes: asStrings(value(d.scope, role.body, 'properties.assignableScopes'), 'assignableScopes'), at: d.at });
    }
  }
  const assignments = ASSIGNMENT_MODULES.flatMap((module) => deployments(module, bound).map((d) => ({ module, at: d.at, roleDefinitionName: String(paramValue(d.scope, 'roleDefinitionName')) })));
  return { definitions, assignments };
}

before(loadInfraFixture);

describe('custom roles survive shrinking the scope lists', () => {
  const longScopes = [rg(SUB[0], 'rg-openai'), rg(SUB[0], 'rg-ai'), `/subscriptions/${SUB[1]}`, rg(SUB[2], 'rg-foundry')];
  const longSubscriptions = [SUB[0], SUB[1], SUB[2]];

  test('every role definition of the shorter run keeps exactly the name, display name and assignable scopes it had in the longer run', () => {
    const long = run(longScopes, longSubscriptions);
    // Drop scopes from the front and the middle so that positions shift, and one scanned subscription.
    const short = run([longScopes[1] ?? '', longScopes[3] ?? ''], [SUB[0], SUB[2]]);
    const scopes = (r: ReturnType<typeof run>) => [...r.definitions.values()].flatMap((d) => d.assignableScopes).sort();
    const subscriptions = (ids: readonly string[]) => ids.map((id) => `/subscriptions/${id}`);
    assert.deepEqual(scopes(long), [...longScopes, ...subscriptions(longSubscriptions), VAULT, HSM].sort(), 'a definition for each writer scope, scanned subscription, the unscanned vault and HSM');
    assert.deepEqual(scopes(short), [longScopes[1] ?? '', longScopes[3] ?? '', ...subscriptions([SUB[0], SUB[2]]), VAULT, HSM].sort());
    for (const [name, definition] of short.definitions) {
      assert.deepEqual(long.definitions.get(name), definition, `definition ${name} (${definition.assignableScopes.join(', ')}) changed between the runs`);
    }
    // Nothing is ever widened or narrowed in place: every definition has exactly one assignable scope.
    for (const definition of long.definitions.values()) assert.equal(definition.assignableScopes.length, 1, `${definition.roleName} is assignable at ${definition.assignableScopes.join(', ')}`);
    const dropped = [...long.definitions.values()].filter((d) => ![...short.definitions.values()].some((s) => s.assignableScopes[0] === d.assignableScopes[0]));
    assert.deepEqual(dropped.map((d) => d.assignableScopes[0]).sort(), [longScopes[0], longScopes[2], `/subscriptions/${SUB[1]}`].sort(), 'only the dropped scopes leave the template');
  });

  test('every assignment uses the definition made for its own scope, so an assignment left behind at a dropped scope never blocks a definition still managed', () => {
    for (const { definitions, assignments } of [run(longScopes, longSubscriptions), run([longScopes[3] ?? ''], [SUB[2]])]) {
      assert.ok(assignments.length > 0);
      for (const assignment of assignments) {
        const definition = definitions.get(assignment.roleDefinitionName);
        assert.ok(definition, `${assignment.module} at ${assignment.at} uses ${assignment.roleDefinitionName}, which this run does not define`);
        const scope = definition.assignableScopes[0] ?? '';
        assert.ok(scope === assignment.at || scope.startsWith(`${assignment.at}/providers/`), `${assignment.module} at ${assignment.at} uses a definition assignable at ${scope}`);
      }
      const used = new Set(assignments.map((a) => a.roleDefinitionName));
      assert.deepEqual([...definitions.keys()].filter((name) => !used.has(name)), [], 'no definition without its assignment');
    }
  });

  test('a definition is named from its scope: the order or case of the list does not rename it, another environment does', () => {
    const first = run(longScopes, longSubscriptions);
    const reordered = run([...longScopes].reverse().map((s, i) => (i === 0 ? s.toUpperCase() : s)), [...longSubscriptions].reverse());
    assert.deepEqual([...reordered.definitions.keys()].sort(), [...first.definitions.keys()].sort());
    const other = run(longScopes, longSubscriptions, { environmentName: 'cmk-test' });
    for (const [name, definition] of other.definitions) {
      assert.ok(!first.definitions.has(name), 'two environments never share a definition');
      assert.ok(![...first.definitions.values()].some((d) => d.roleName === definition.roleName), 'display names are unique per tenant');
    }
  });
});
