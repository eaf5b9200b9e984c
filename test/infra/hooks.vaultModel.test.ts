// The preprovision hook that reads the vault's permission model (infra/hooks/detect-vault-permission-model.js), run
// as azd runs it, with fake az and azd first on PATH; and the parameter it feeds.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { assertProjectHook, fakeCliPerTest } from './fakeCli';
import { loadInfraFixture, main, readText } from './infraFixture';

const HOOK = 'detect-vault-permission-model.js';
const VAULT_ID = '/subscriptions/0b1e5e7a-3c4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-cmk';
const SHOW = ['keyvault', 'show', '--ids', VAULT_ID, '--query', 'properties.enableRbacAuthorization', '-o', 'tsv'];

const withFake = fakeCliPerTest();
before(loadInfraFixture);

describe('preprovision: the vault\'s permission model is read, not guessed', () => {
  for (const [flag, expected] of [
    ['true\n', 'rbac'],
    ['false\n', 'accessPolicy'],
    // A vault created before the property existed reports null; the API defines null as false.
    ['\n', 'accessPolicy'],
  ] as const) {
    test(`enableRbacAuthorization ${JSON.stringify(flag.trim())} sets VAULT_PERMISSION_MODEL=${expected}`, () => {
      const cli = withFake([{ command: 'az', args: ['keyvault', 'show'], answers: [{ stdout: flag }] }]);
      const run = cli.runHook(HOOK, { KEY_VAULT_RESOURCE_ID: VAULT_ID });
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(cli.calls('az').map((c) => c.args), [SHOW], 'one read of the vault, by its id');
      assert.deepEqual(cli.envSets(), [['VAULT_PERMISSION_MODEL', expected]]);
    });
  }

  test('a vault that cannot be read stops the provision with a message that says what to do, and sets nothing', () => {
    const cli = withFake([{ command: 'az', args: ['keyvault', 'show'], answers: [{ status: 3, stderr: "ERROR: (ResourceNotFound) The Resource 'Microsoft.KeyVault/vaults/kv-cmk' was not found.\n" }] }]);
    const run = cli.runHook(HOOK, { KEY_VAULT_RESOURCE_ID: VAULT_ID });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /^cmk-rotator: cannot read Key Vault \/subscriptions\/.*kv-cmk to detect its permission model \(az exited 3: ERROR: \(ResourceNotFound\)/);
    assert.match(run.stderr, /az login/);
    assert.match(run.stderr, /VAULT_PERMISSION_MODEL_OVERRIDE/);
    assert.deepEqual(cli.envSets(), []);
  });

  test('an answer that is neither true, false nor empty is refused rather than read as access policies', () => {
    const cli = withFake([{ command: 'az', args: ['keyvault', 'show'], answers: [{ stdout: 'None\n' }] }]);
    const run = cli.runHook(HOOK, { KEY_VAULT_RESOURCE_ID: VAULT_ID });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /unexpected properties\.enableRbacAuthorization "None"/);
    assert.deepEqual(cli.envSets(), []);
  });

  test('VAULT_PERMISSION_MODEL_OVERRIDE is used as given, without reading the vault; a wrong value is refused', () => {
    const cli = withFake([{ command: 'az', args: [], answers: [{ status: 1, stderr: 'az must not be called\n' }] }]);
    const run = cli.runHook(HOOK, { KEY_VAULT_RESOURCE_ID: VAULT_ID, VAULT_PERMISSION_MODEL_OVERRIDE: 'accessPolicy' });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(cli.calls('az'), []);
    assert.deepEqual(cli.envSets(), [['VAULT_PERMISSION_MODEL', 'accessPolicy']]);

    const wrong = cli.runHook(HOOK, { KEY_VAULT_RESOURCE_ID: VAULT_ID, VAULT_PERMISSION_MODEL_OVERRIDE: 'RBAC' });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /VAULT_PERMISSION_MODEL_OVERRIDE is "RBAC"; use rbac or accessPolicy/);
    assert.equal(cli.envSets().length, 1, 'nothing more was set');
  });

  test('a missing or malformed KEY_VAULT_RESOURCE_ID fails before any call', () => {
    const cli = withFake([]);
    for (const id of ['', '/subscriptions/x/resourceGroups/y/providers/Microsoft.KeyVault/managedHSMs/hsm1', 'kv-cmk']) {
      const run = cli.runHook(HOOK, { KEY_VAULT_RESOURCE_ID: id });
      assert.equal(run.status, 1, `KEY_VAULT_RESOURCE_ID="${id}"`);
      assert.match(run.stderr, /KEY_VAULT_RESOURCE_ID is ".*"; set it to \/subscriptions\/<id>\/resourceGroups\/<rg>\/providers\/Microsoft\.KeyVault\/vaults\/<name>/);
    }
    assert.deepEqual(cli.calls(), []);
  });

  test('azd runs the hook before every provision, and the parameter takes its value with no default to fall back on', () => {
    assertProjectHook(readText('azure.yaml'), 'preprovision', HOOK);
    const parameters = JSON.parse(readText('infra/main.parameters.json')) as { parameters: Record<string, { value: unknown }> };
    assert.equal(parameters.parameters.vaultPermissionModel?.value, '${VAULT_PERMISSION_MODEL}');
    const param = main.byName.get('vaultPermissionModel');
    assert.equal(param?.kind, 'param');
    assert.equal(param.value, undefined, 'no default: a deployment without the hook must say which model the vault uses');
  });
});
