// Managed HSM: the postprovision hook that grants the identity the HSM's local role (infra/hooks/grant-managed-hsm-access.js),
// run with fake az first on PATH, and what the template does for an HSM (parameter, service settings).
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Opaque, reachable, type Value } from './bicep';
import { assertProjectHook, fakeCliPerTest, type FakeCli, type FakeRule } from './fakeCli';
import { appSettings, loadInfraFixture, main, readText } from './infraFixture';

const HOOK = 'grant-managed-hsm-access.js';
const HSM_ID = '/subscriptions/0b1e5e7a-3c4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg-hsm/providers/Microsoft.KeyVault/managedHSMs/hsm-cmk';
const PRINCIPAL = '6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b';
const CRYPTO_USER_ID = 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b';
const LIST = ['keyvault', 'role', 'assignment', 'list', '--hsm-name', 'hsm-cmk', '--scope', '/keys', '--assignee-object-id', PRINCIPAL, '-o', 'json'];
const CREATE = ['keyvault', 'role', 'assignment', 'create', '--hsm-name', 'hsm-cmk', '--scope', '/keys', '--role', 'Managed HSM Crypto User', '--assignee-object-id', PRINCIPAL, '--assignee-principal-type', 'ServicePrincipal'];
const ENV = { MANAGED_HSM_RESOURCE_ID: HSM_ID, FUNCTION_APP_PRINCIPAL_ID: PRINCIPAL };

/** An assignment as `az keyvault role assignment list -o json` prints it. */
function assignment(overrides: Record<string, string> = {}): Record<string, string> {
  return { id: '/keys/providers/Microsoft.Authorization/roleAssignments/1', name: '1', principalId: PRINCIPAL, roleDefinitionId: CRYPTO_USER_ID, roleName: 'Managed HSM Crypto User', scope: '/keys', type: 'Microsoft.Authorization/roleAssignments', ...overrides };
}

const fakeCli = fakeCliPerTest([]);
function withFake(listed: FakeRule['answers'][number]): FakeCli {
  return fakeCli([
    { command: 'az', args: ['keyvault', 'role', 'assignment', 'list'], answers: [listed] },
    { command: 'az', args: ['keyvault', 'role', 'assignment', 'create'], answers: [{ stdout: JSON.stringify(assignment()) }] },
  ]);
}
before(loadInfraFixture);

describe('Managed HSM: local RBAC granted after provision', () => {
  test('without MANAGED_HSM_RESOURCE_ID the hook does nothing', () => {
    const cli = withFake({ stdout: '[]' });
    const run = cli.runHook(HOOK, { FUNCTION_APP_PRINCIPAL_ID: PRINCIPAL });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(cli.calls(), []);
  });

  test('lists first, then assigns Managed HSM Crypto User at /keys to the app\'s identity as a service principal', () => {
    // Near misses do not count: another role, another scope, another principal.
    const others = [assignment({ roleDefinitionId: 'x/roleDefinitions/515eb02d-2335-4d2d-92f2-b1cbdf9c3778', roleName: 'Managed HSM Crypto Officer' }), assignment({ scope: '/keys/cmk' }), assignment({ principalId: '00000000-0000-0000-0000-000000000001' })];
    const cli = withFake({ stdout: JSON.stringify(others) });
    const run = cli.runHook(HOOK, ENV);
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(cli.calls('az').map((c) => c.args), [LIST, CREATE]);
    assert.match(run.stdout, /assigned Managed HSM Crypto User at \/keys/);
  });

  test('a second provision finds the assignment and creates nothing (by role id or role name, scope with or without its slash)', () => {
    for (const existing of [assignment(), assignment({ roleName: '' }), assignment({ roleDefinitionId: '', principalId: PRINCIPAL.toUpperCase() }), assignment({ scope: 'keys' })]) {
      const cli = withFake({ stdout: JSON.stringify([existing]) });
      const run = cli.runHook(HOOK, ENV);
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(cli.calls('az').map((c) => c.args), [LIST], `no create for ${JSON.stringify(existing)}`);
      assert.match(run.stdout, /already assigned/);
      cli.dispose();
    }
  });

  test('a list that fails stops azd with what the deployer needs, and nothing is created', () => {
    const cli = withFake({ status: 1, stderr: 'ERROR: (Forbidden) Caller is not authorized to perform action on resource.\n' });
    const run = cli.runHook(HOOK, ENV);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /^cmk-rotator: cannot list the local role assignments of Managed HSM hsm-cmk \(az exited 1: ERROR: \(Forbidden\)/);
    assert.match(run.stderr, /Managed HSM Administrator or Policy Administrator/);
    assert.deepEqual(cli.calls('az').map((c) => c.args), [LIST]);
  });

  test('a malformed id or a missing principal fails before any call', () => {
    const cli = withFake({ stdout: '[]' });
    const badId = cli.runHook(HOOK, { ...ENV, MANAGED_HSM_RESOURCE_ID: HSM_ID.replace('managedHSMs', 'vaults') });
    assert.equal(badId.status, 1);
    assert.match(badId.stderr, /MANAGED_HSM_RESOURCE_ID is ".*\/vaults\/hsm-cmk"; set it to .*Microsoft\.KeyVault\/managedHSMs\/<name>/);
    const noPrincipal = cli.runHook(HOOK, { MANAGED_HSM_RESOURCE_ID: HSM_ID });
    assert.equal(noPrincipal.status, 1);
    assert.match(noPrincipal.stderr, /FUNCTION_APP_PRINCIPAL_ID is empty/);
    assert.deepEqual(cli.calls(), []);
  });

  test('azd runs it after every provision; MANAGED_HSM_RESOURCE_ID feeds the parameter, FUNCTION_APP_PRINCIPAL_ID is an output', () => {
    assertProjectHook(readText('azure.yaml'), 'postprovision', HOOK);
    const parameters = JSON.parse(readText('infra/main.parameters.json')) as { parameters: Record<string, { value: unknown }> };
    assert.equal(parameters.parameters.managedHsmResourceId?.value, '${MANAGED_HSM_RESOURCE_ID}');
    assert.equal(main.byName.get('managedHsmResourceId')?.value?.text, "''", 'optional: empty means no HSM');
    assert.ok(main.of('output').some((o) => o.name === 'FUNCTION_APP_PRINCIPAL_ID'));
  });

  test('with an HSM the service may call HSM hosts: KEY_VAULT_HOST_SUFFIXES adds the cloud\'s managedhsm suffix', () => {
    const bound = (hsm: string): Map<string, Value> => new Map<string, Value>([['accountScopes', '/subscriptions/x'], ['keyVaultHostSuffixes', '.vault.azure.net'], ['managedHsmResourceId', hsm]]);
    assert.equal(appSettings(bound('')).KEY_VAULT_HOST_SUFFIXES, '.vault.azure.net', 'unchanged without an HSM');
    const withHsm = appSettings(bound(HSM_ID)).KEY_VAULT_HOST_SUFFIXES;
    assert.ok(withHsm instanceof Opaque, 'the suffix comes from environment(), known at deployment');
    const replace = reachable(withHsm.scope.file, withHsm.node).find((n) => n.type === 'call_expression' && n.childForFieldName('function')?.text === 'replace');
    assert.equal(replace?.text, "replace(environment().suffixes.keyvaultDns, '.vault.', '.managedhsm.')");
    assert.ok(reachable(withHsm.scope.file, withHsm.node).some((n) => n.text === 'vaultHostSuffixes'), 'the vault suffixes are kept');
  });
});
