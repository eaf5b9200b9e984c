// @ts-check
// azd postdeploy hook: once per environment, waits until the Function App lists the keyVaultEvents function, then
// sets DEPLOY_EVENT_SUBSCRIPTION=true and provisions again. Event Grid checks that the function exists when the
// subscription is created, and a Flex Consumption app indexes its functions a while after the deploy returns.
'use strict';

const { azdEnvSet, envValue, HookError, run, runMain } = require('./cli');

/** The function Event Grid delivers to (functions/keyVaultEvents.ts, infra/modules/event-subscription.bicep). */
const EVENT_FUNCTION = 'keyVaultEvents';
const DEFAULT_TIMEOUT_SECONDS = 300;
const DEFAULT_POLL_SECONDS = 10;

function seconds(env, name, fallback) {
  const raw = envValue(name, env);
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new HookError(`${name} is "${raw}"; give a positive number of seconds`);
  return value;
}

/**
 * @param {NodeJS.ProcessEnv} env the azd environment, with the provision's outputs
 * @param {import('./cli').Runner} runner runs az / azd
 * @param {(ms: number) => Promise<void>} sleep waits between polls
 * @returns {Promise<'already-enabled' | 'enabled'>}
 */
async function enableEventSubscription(env = process.env, runner = run, sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))) {
  if (envValue('DEPLOY_EVENT_SUBSCRIPTION', env) === 'true') return 'already-enabled';
  const resourceGroup = envValue('AZURE_RESOURCE_GROUP', env);
  const app = envValue('AZURE_FUNCTION_APP_NAME', env);
  if (!resourceGroup || !app) throw new HookError('AZURE_RESOURCE_GROUP or AZURE_FUNCTION_APP_NAME is empty: run azd provision first (they are outputs of infra/main.bicep)');
  const timeoutMs = seconds(env, 'EVENT_FUNCTION_WAIT_SECONDS', DEFAULT_TIMEOUT_SECONDS) * 1000;
  const pollMs = seconds(env, 'EVENT_FUNCTION_POLL_SECONDS', DEFAULT_POLL_SECONDS) * 1000;

  const started = Date.now();
  let attempts = 0;
  let last = '';
  for (;;) {
    attempts += 1;
    const shown = runner('az', ['functionapp', 'function', 'show', '-g', resourceGroup, '-n', app, '--function-name', EVENT_FUNCTION, '-o', 'json']);
    if (shown.status === 0 && shown.stdout.trim()) break;
    last = shown.stderr.trim() || `exit ${shown.status}`;
    const elapsed = Date.now() - started;
    if (elapsed >= timeoutMs) {
      throw new HookError(
        `${EVENT_FUNCTION} is not listed on Function App ${app} after ${Math.round(elapsed / 1000)} s (${attempts} checks; last: ${last}). ` +
          'The Event Grid subscription was not created. Check the deployment and the app\'s logs, then run: azd env set DEPLOY_EVENT_SUBSCRIPTION true && azd provision',
      );
    }
    process.stdout.write(`waiting for ${EVENT_FUNCTION} on ${app} (${Math.round(elapsed / 1000)} s of ${timeoutMs / 1000} s)\n`);
    await sleep(Math.min(pollMs, timeoutMs - elapsed));
  }

  process.stdout.write(`${EVENT_FUNCTION} is deployed: provisioning the Key Vault Event Grid subscription\n`);
  azdEnvSet(runner, 'DEPLOY_EVENT_SUBSCRIPTION', 'true');
  const provisioned = runner('azd', ['provision', '--no-prompt'], { inherit: true });
  if (provisioned.status !== 0) throw new HookError(`azd provision (with the Event Grid subscription) failed with exit ${provisioned.status}`);
  return 'enabled';
}

module.exports = { EVENT_FUNCTION, DEFAULT_TIMEOUT_SECONDS, DEFAULT_POLL_SECONDS, enableEventSubscription };

if (require.main === module) runMain(() => enableEventSubscription());
