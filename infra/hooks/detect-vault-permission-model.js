// @ts-check
// azd preprovision hook: reads the Key Vault's properties.enableRbacAuthorization and stores the permission model as
// VAULT_PERMISSION_MODEL, so the service's grant (RBAC role or access policy) matches the vault as it is today.
// VAULT_PERMISSION_MODEL_OVERRIDE (rbac | accessPolicy) skips the read, for a vault the deployer cannot read.
'use strict';

const { azdEnvSet, envValue, HookError, parseResourceId, run, runMain } = require('./cli');

const MODELS = ['rbac', 'accessPolicy'];

/**
 * The permission model from `az keyvault show ... -o tsv`: "true" is RBAC; "false", or empty because the vault
 * never had the property (the API's "null means false"), is access policies.
 */
function modelFromRbacFlag(output) {
  const flag = output.trim().toLowerCase();
  if (flag === 'true') return 'rbac';
  if (flag === 'false' || flag === '') return 'accessPolicy';
  throw new HookError(`unexpected properties.enableRbacAuthorization "${output.trim()}" from az keyvault show`);
}

/**
 * @param {NodeJS.ProcessEnv} env the azd environment as the hook sees it
 * @param {import('./cli').Runner} runner runs az / azd
 * @returns {string} the model stored in VAULT_PERMISSION_MODEL
 */
function detectVaultPermissionModel(env = process.env, runner = run) {
  const override = envValue('VAULT_PERMISSION_MODEL_OVERRIDE', env);
  let model;
  if (override) {
    if (!MODELS.includes(override)) throw new HookError(`VAULT_PERMISSION_MODEL_OVERRIDE is "${override}"; use ${MODELS.join(' or ')}, or unset it to read the vault`);
    process.stdout.write(`VAULT_PERMISSION_MODEL_OVERRIDE=${override}: the vault's permission model was not read\n`);
    model = override;
  } else {
    const vaultId = envValue('KEY_VAULT_RESOURCE_ID', env);
    if (!parseResourceId(vaultId, 'Microsoft.KeyVault/vaults')) {
      throw new HookError(`KEY_VAULT_RESOURCE_ID is "${vaultId}"; set it to /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name> (azd env set KEY_VAULT_RESOURCE_ID ...)`);
    }
    const shown = runner('az', ['keyvault', 'show', '--ids', vaultId, '--query', 'properties.enableRbacAuthorization', '-o', 'tsv']);
    if (shown.status !== 0) {
      throw new HookError(
        `cannot read Key Vault ${vaultId} to detect its permission model (az exited ${shown.status}: ${shown.stderr.trim() || 'no message'}). ` +
          'Sign in with az login to the vault\'s tenant and check the id and your read access on the vault, or set VAULT_PERMISSION_MODEL_OVERRIDE to rbac or accessPolicy.',
      );
    }
    model = modelFromRbacFlag(shown.stdout);
    process.stdout.write(`Key Vault ${vaultId} uses ${model === 'rbac' ? 'Azure RBAC' : 'access policies'}: VAULT_PERMISSION_MODEL=${model}\n`);
  }
  azdEnvSet(runner, 'VAULT_PERMISSION_MODEL', model);
  return model;
}

module.exports = { MODELS, modelFromRbacFlag, detectVaultPermissionModel };

if (require.main === module) runMain(() => detectVaultPermissionModel());
