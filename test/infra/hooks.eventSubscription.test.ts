// The postdeploy hook (infra/hooks/enable-event-subscription.js): it provisions the Event Grid subscription only once
// the app lists keyVaultEvents, and gives up after its timeout. Run with fake az and azd first on PATH.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { assertProjectHook, fakeCliPerTest } from './fakeCli';
import { loadInfraFixture, main, moduleCall, only, readText, value } from './infraFixture';

const HOOK = 'enable-event-subscription.js';
const APP = { AZURE_RESOURCE_GROUP: 'rg-cmk-prod', AZURE_FUNCTION_APP_NAME: 'func-cmk-abc123' };
const SHOW = ['functionapp', 'function', 'show', '-g', APP.AZURE_RESOURCE_GROUP, '-n', APP.AZURE_FUNCTION_APP_NAME, '--function-name', 'keyVaultEvents', '-o', 'json'];
const MISSING = { status: 3, stderr: "ERROR: (NotFound) Error retrieving function 'keyVaultEvents'.\n" };
const LISTED = { stdout: '{"name":"func-cmk-abc123/keyVaultEvents","properties":{"config":{"bindings":[{"type":"eventGridTrigger"}]}}}\n' };
// Fast polling for the tests; the defaults are 300 s and 10 s.
const FAST = { EVENT_FUNCTION_WAIT_SECONDS: '1', EVENT_FUNCTION_POLL_SECONDS: '0.05' };

const withFake = fakeCliPerTest();
before(loadInfraFixture);

describe('postdeploy: the Event Grid subscription waits for keyVaultEvents', () => {
  test('while the function is missing it waits; once listed it sets DEPLOY_EVENT_SUBSCRIPTION and provisions again', () => {
    const cli = withFake([{ command: 'az', args: ['functionapp', 'function', 'show'], answers: [MISSING, MISSING, MISSING, LISTED] }]);
    const run = cli.runHook(HOOK, { ...APP, ...FAST, EVENT_FUNCTION_WAIT_SECONDS: '20' });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(cli.calls('az').map((c) => c.args), [SHOW, SHOW, SHOW, SHOW], 'polled until the fourth check found it, then stopped');
    assert.deepEqual(cli.calls('azd').map((c) => c.args), [['env', 'set', 'DEPLOY_EVENT_SUBSCRIPTION', 'true'], ['provision', '--no-prompt']], 'flag first, then the provision that reads it');
    assert.equal((run.stdout.match(/waiting for keyVaultEvents/g) ?? []).length, 3);
  });

  test('a function that never appears fails after the timeout with a clear message, and nothing is provisioned', () => {
    const cli = withFake([{ command: 'az', args: ['functionapp', 'function', 'show'], answers: [MISSING] }]);
    const started = Date.now();
    const run = cli.runHook(HOOK, { ...APP, ...FAST, EVENT_FUNCTION_WAIT_SECONDS: '0.5' });
    const elapsed = Date.now() - started;
    assert.equal(run.status, 1);
    assert.match(run.stderr, /^cmk-rotator: keyVaultEvents is not listed on Function App func-cmk-abc123 after \d+ s \(\d+ checks; last: ERROR: \(NotFound\)/);
    assert.match(run.stderr, /azd env set DEPLOY_EVENT_SUBSCRIPTION true && azd provision/, 'says how to finish by hand');
    assert.ok(cli.calls('az').length >= 2, 'it polled more than once before giving up');
    assert.ok(elapsed >= 500, `gave up after ${elapsed} ms, before its 0.5 s timeout`);
    assert.deepEqual(cli.calls('azd'), []);
  });

  test('an environment that already has the subscription is left alone; missing outputs or a bad timeout are refused', () => {
    const cli = withFake([{ command: 'az', args: [], answers: [LISTED] }]);
    const enabled = cli.runHook(HOOK, { ...APP, DEPLOY_EVENT_SUBSCRIPTION: 'true' });
    assert.equal(enabled.status, 0, enabled.stderr);
    assert.deepEqual(cli.calls(), []);

    const noOutputs = cli.runHook(HOOK, { AZURE_RESOURCE_GROUP: APP.AZURE_RESOURCE_GROUP });
    assert.equal(noOutputs.status, 1);
    assert.match(noOutputs.stderr, /AZURE_RESOURCE_GROUP or AZURE_FUNCTION_APP_NAME is empty/);
    const badTimeout = cli.runHook(HOOK, { ...APP, EVENT_FUNCTION_WAIT_SECONDS: 'five' });
    assert.equal(badTimeout.status, 1);
    assert.match(badTimeout.stderr, /EVENT_FUNCTION_WAIT_SECONDS is "five"/);
    assert.deepEqual(cli.calls(), []);
  });

  test('azd runs it after deploy; the values it reads are main.bicep outputs; the function name is the event subscription\'s', () => {
    assertProjectHook(readText('azure.yaml'), 'postdeploy', HOOK);
    const outputs = main.of('output').map((o) => o.name);
    for (const name of Object.keys(APP)) assert.ok(outputs.includes(name), `main.bicep outputs ${name}`);
    const { scope } = moduleCall('modules/event-subscription.bicep');
    const destination = value(scope, only(scope, 'Microsoft.EventGrid/systemTopics/eventSubscriptions').body, 'properties.destination.properties.resourceId');
    assert.match(String(destination), /\/functions\/keyVaultEvents$/);
    assert.match(readText('functions/keyVaultEvents.ts'), /app\.eventGrid\('keyVaultEvents'/);
  });
});
