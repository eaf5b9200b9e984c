// @ts-check
// azd postprovision hook: when MANAGED_HSM_RESOURCE_ID is set, gives the Function App's identity "Managed HSM Crypto
// User" at the HSM's /keys scope. Managed HSM authorises keys with its own local RBAC, which ARM (and so Bicep)
// cannot assign; the hook lists first, so a second provision adds nothing.
'use strict';

const { envValue, HookError, parseResourceId, run, runMain } = require('./cli');

/** Local RBAC built-in role: key operations (read, list versions, rotate) without purge or export. */
const MANAGED_HSM_CRYPTO_USER = { name: 'Managed HSM Crypto User', id: '21dbd100-6940-42c2-9190-5d6cb909625b' };
/** Every key of the HSM; the service finds the keys accounts are bound to, so it cannot be narrowed to one key. */
const KEYS_SCOPE = '/keys';

/** True when an assignment listed by `az keyvault role assignment list` already grants the role to the principal at /keys. */
function grantsCryptoUser(assignment, principalId) {
  const roleId = String(assignment?.roleDefinitionId ?? '').toLowerCase();
  const sameRole = roleId.endsWith(`/${MANAGED_HSM_CRYPTO_USER.id}`) || assignment?.roleName === MANAGED_HSM_CRYPTO_USER.name;
  // The CLI matches "/keys" and "keys" alike; compare the same way.
  const scope = `/${String(assignment?.scope ?? '').replace(/^\/+/, '')}`;
  return sameRole && String(assignment?.principalId ?? '').toLowerCase() === principalId.toLowerCase() && scope === KEYS_SCOPE;
}

/**
 * @param {NodeJS.ProcessEnv} env the azd environment, with the provision's outputs
 * @param {import('./cli').Runner} runner runs az
 * @returns {'not-configured' | 'already-granted' | 'granted'}
 */
function grantManagedHsmAccess(env = process.env, runner = run) {
  const hsmId = envValue('MANAGED_HSM_RESOURCE_ID', env);
  if (!hsmId) return 'not-configured';
  const hsm = parseResourceId(hsmId, 'Microsoft.KeyVault/managedHSMs');
  if (!hsm) throw new HookError(`MANAGED_HSM_RESOURCE_ID is "${hsmId}"; set it to /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.KeyVault/managedHSMs/<name>, or unset it`);
  const principalId = envValue('FUNCTION_APP_PRINCIPAL_ID', env);
  if (!principalId) throw new HookError('FUNCTION_APP_PRINCIPAL_ID is empty: the provision did not output the Function App\'s identity, so the Managed HSM role cannot be assigned');

  const target = ['--hsm-name', hsm.name, '--scope', KEYS_SCOPE];
  const listed = runner('az', ['keyvault', 'role', 'assignment', 'list', ...target, '--assignee-object-id', principalId, '-o', 'json']);
  if (listed.status !== 0) {
    throw new HookError(
      `cannot list the local role assignments of Managed HSM ${hsm.name} (az exited ${listed.status}: ${listed.stderr.trim() || 'no message'}). ` +
        'You need a local role that reads and creates role assignments (Managed HSM Administrator or Policy Administrator) and network access to the HSM.',
    );
  }
  let assignments;
  try {
    assignments = JSON.parse(listed.stdout || '[]');
  } catch {
    throw new HookError(`az keyvault role assignment list answered something other than JSON: ${listed.stdout.slice(0, 200)}`);
  }
  if (Array.isArray(assignments) && assignments.some((a) => grantsCryptoUser(a, principalId))) {
    process.stdout.write(`Managed HSM ${hsm.name}: ${MANAGED_HSM_CRYPTO_USER.name} at ${KEYS_SCOPE} is already assigned to ${principalId}\n`);
    return 'already-granted';
  }
  const created = runner('az', [
    'keyvault', 'role', 'assignment', 'create', ...target,
    '--role', MANAGED_HSM_CRYPTO_USER.name,
    '--assignee-object-id', principalId,
    '--assignee-principal-type', 'ServicePrincipal',
  ]);
  if (created.status !== 0) throw new HookError(`cannot assign ${MANAGED_HSM_CRYPTO_USER.name} on Managed HSM ${hsm.name} (az exited ${created.status}: ${created.stderr.trim() || 'no message'})`);
  process.stdout.write(`Managed HSM ${hsm.name}: assigned ${MANAGED_HSM_CRYPTO_USER.name} at ${KEYS_SCOPE} to ${principalId}\n`);
  return 'granted';
}

module.exports = { MANAGED_HSM_CRYPTO_USER, KEYS_SCOPE, grantsCryptoUser, grantManagedHsmAccess };

if (require.main === module) runMain(() => grantManagedHsmAccess());
