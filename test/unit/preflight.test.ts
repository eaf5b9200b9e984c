import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluateAccount } from '../../shared/domain/findings';
import type { RebindJob } from '../../shared/domain/jobs';
import { isManagedHsmUri, versionOrder } from '../../shared/domain/keys';
import { cmkDisableRefusal, managedHsmSupported, userAssignedKeyIdentity } from '../../shared/domain/kinds';
import { managedHsmKindRefusal } from '../../shared/domain/preflight';
import { DependencyError } from '../../shared/errors';
import { runDisableCmk, runSwitchKey } from '../../shared/usecases/encryptionChange';
import { requestEncryptionChange, type ManualDeps } from '../../shared/usecases/manual';
import { runRebind } from '../../shared/usecases/rebind';
import { accessPolicyVault, accountId, boundAccount, FakeDiscovery, hex, keyVersion, rebindDeps, silentLogger, SUB, VAULT } from '../support/fakes';

// The preflight before a PATCH (access to the target key, Managed HSM only for kinds that support it) and the
// per-kind rules, with in-memory fakes: a refused job sends no PATCH and its row says why.

const now = new Date('2026-06-01T00:00:00Z');
const HSM = 'https://hsm-one.managedhsm.azure.net/';
const HSM_ID = `/subscriptions/${SUB}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/managedHSMs/hsm-one`;
const VAULT_ID = accessPolicyVault().id;
const CSEU = { id: '/providers/Microsoft.Authorization/roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6', roleName: 'Key Vault Crypto Service Encryption User', permissions: [{ dataActions: ['Microsoft.KeyVault/vaults/keys/read', 'Microsoft.KeyVault/vaults/keys/wrap/action', 'Microsoft.KeyVault/vaults/keys/unwrap/action'], notDataActions: [] }] };

/** v1 bound, v2 current, in `vaultUri`; the account of `kind` bound to v1. */
function scenario(o: { vaultUri?: string; kind?: string } = {}) {
  const vaultUri = o.vaultUri ?? VAULT;
  const deps = rebindDeps();
  deps.keys.add(keyVersion(hex(1), { vaultUri, createdOn: new Date('2026-01-01T00:00:00Z') }), keyVersion(hex(2), { vaultUri, createdOn: new Date('2026-03-01T00:00:00Z') }));
  deps.accounts.put(boundAccount('a1', hex(1), { kind: o.kind ?? 'OpenAI', binding: { vaultUri, keyName: 'cmk', keyVersion: hex(1) } }));
  const job: RebindJob = {
    kind: 'rebind', jobId: 'job-00000001', trigger: 'event', createdAt: now.toISOString(), vaultUri, keyName: 'cmk',
    accountId: accountId('a1'), targetVersion: hex(2), force: false, priorAttempts: 0,
  };
  const row = () => deps.journal.rows.get(`${accountId('a1').toLowerCase()}|${job.jobId}`);
  return { deps, job, row };
}

describe('rebind preflight: the identity must be shown to use the target key', () => {
  it('an access-policy vault without get/wrapKey/unwrapKey for the identity: refused, no PATCH, the row says what is missing', async () => {
    const { deps, job, row } = scenario();
    deps.vaults.put(accessPolicyVault({}, ['someone-else']));
    await runRebind(job, 1, deps, silentLogger());
    assert.equal(deps.accounts.patches.length, 0);
    assert.equal(row()?.status, 'refused');
    assert.match(row()?.reason ?? '', /^access-missing: access policies of kv-one grant p no get, wrapKey, unwrapKey/);
  });

  it('an RBAC vault: a role at the vault proves it and the PATCH goes; none refuses it', async () => {
    const granted = scenario();
    granted.deps.vaults.put(accessPolicyVault({ enableRbacAuthorization: true, accessPolicies: [] }));
    granted.deps.grants.views.set('p', { status: 'read', assignments: [{ scope: VAULT_ID, roleDefinitionId: CSEU.id, principalId: 'p' }], definitions: [CSEU] });
    await runRebind(granted.job, 1, granted.deps, silentLogger());
    assert.equal(granted.row()?.status, 'succeeded');
    assert.deepEqual(granted.deps.grants.asked, [{ target: { plane: 'vault-rbac', vaultId: VAULT_ID }, principalId: 'p' }]);

    const none = scenario();
    none.deps.vaults.put(accessPolicyVault({ enableRbacAuthorization: true, accessPolicies: [] }));
    await runRebind(none.job, 1, none.deps, silentLogger());
    assert.equal(none.deps.accounts.patches.length, 0);
    assert.match(none.row()?.reason ?? '', /^access-missing: no role of p at or above key cmk in kv-one grants get, wrapKey, unwrapKey/);
  });

  it('the service may not read role assignments: refused as unverifiable, naming the permission', async () => {
    const { deps, job, row } = scenario();
    deps.vaults.put(accessPolicyVault({ enableRbacAuthorization: true, accessPolicies: [] }));
    deps.grants.views.set('p', { status: 'denied', permission: 'Microsoft.Authorization/roleAssignments/read', detail: 'AuthorizationFailed' });
    await runRebind(job, 1, deps, silentLogger());
    assert.equal(deps.accounts.patches.length, 0);
    assert.match(row()?.reason ?? '', /^access-unverifiable: .*lacks Microsoft\.Authorization\/roleAssignments\/read/);
  });

  it('a vault that is in no listed subscription cannot be checked: refused', async () => {
    const { deps, job, row } = scenario();
    deps.vaults.vaults.clear();
    await runRebind(job, 1, deps, silentLogger());
    assert.equal(deps.accounts.patches.length, 0);
    assert.match(row()?.reason ?? '', /^access-unverifiable: vault https:\/\/kv-one\.vault\.azure\.net\/ could not be read through ARM/);
  });

  it('a refusal is made only on a fresh read of the vault: a grant made after a kept read is seen', async () => {
    const { deps, job, row } = scenario();
    const asked: boolean[] = [];
    deps.vaults.readVault = async (_uri, options) => {
      asked.push(options?.fresh ?? false);
      return options?.fresh ? accessPolicyVault() : accessPolicyVault({}, ['someone-else']);
    };
    await runRebind(job, 1, deps, silentLogger());
    // The job reads the vault with the account (a kept read will do), the preflight refuses only on a fresh one.
    assert.deepEqual(asked, [false, false, true]);
    assert.equal(row()?.status, 'succeeded');
  });

  it('ARM failing to read the vault is trouble, not a verdict: the job is re-queued with nothing sent', async () => {
    const { deps, job, row } = scenario();
    deps.vaults.readVault = async () => {
      throw new DependencyError('ServiceUnavailable', 'ARM is down', { retryable: true, statusCode: 503, dependency: 'arm' });
    };
    const result = await runRebind(job, 1, deps, silentLogger());
    assert.equal(result.outcome, 'deferred');
    assert.equal(deps.accounts.patches.length, 0);
    assert.equal(row()?.intentAt, undefined);
  });

  it('a Managed HSM target for a kind without HSM support is refused by its kind alone: no role assignment is read', async () => {
    const { deps, job, row } = scenario({ vaultUri: HSM, kind: 'ContentSafety' });
    await runRebind(job, 1, deps, silentLogger());
    assert.equal(deps.accounts.patches.length, 0);
    assert.equal(deps.grants.asked.length, 0);
    assert.match(row()?.reason ?? '', /^managed-hsm-kind-unsupported: .*not ContentSafety/);
  });

  it('a Managed HSM target for a supported kind is proven through its local RBAC, on the HSM itself', async () => {
    const { deps, job, row } = scenario({ vaultUri: HSM, kind: 'AIServices' });
    deps.vaults.put(accessPolicyVault({ id: HSM_ID, name: 'hsm-one', vaultUri: HSM, kind: 'managedHsm', enableRbacAuthorization: true, accessPolicies: [] }));
    const hsmRole = { id: 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/33413926-3206-4cdd-b39a-83574fe37a17', roleName: 'Managed HSM Crypto Service Encryption User', permissions: [{ dataActions: ['read', 'wrap', 'unwrap'].map((a) => `Microsoft.KeyVault/managedHsm/keys/${a}/action`), notDataActions: [] }] };
    deps.grants.views.set('p', { status: 'read', assignments: [{ scope: '/keys/cmk', roleDefinitionId: hsmRole.id, principalId: 'p' }], definitions: [hsmRole] });
    await runRebind(job, 1, deps, silentLogger());
    assert.equal(row()?.status, 'succeeded');
    assert.deepEqual(deps.grants.asked.map((a) => a.target), [{ plane: 'managed-hsm', hsmUri: HSM }]);
  });

  it('a vault or HSM of another tenant than the identity is refused, whatever its role assignments or access policies say', async () => {
    const hsmRole = { id: 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/33413926-3206-4cdd-b39a-83574fe37a17', roleName: 'Managed HSM Crypto Service Encryption User', permissions: [{ dataActions: ['read', 'wrap', 'unwrap'].map((a) => `Microsoft.KeyVault/managedHsm/keys/${a}/action`), notDataActions: [] }] };
    const cases = [
      { name: 'RBAC vault', vaultUri: VAULT, vault: accessPolicyVault({ tenantId: 'other-tenant', enableRbacAuthorization: true, accessPolicies: [] }), scope: VAULT_ID, role: CSEU },
      { name: 'Managed HSM', vaultUri: HSM, vault: accessPolicyVault({ id: HSM_ID, name: 'hsm-one', vaultUri: HSM, kind: 'managedHsm', tenantId: 'other-tenant', enableRbacAuthorization: true, accessPolicies: [] }), scope: '/', role: hsmRole },
      // A policy naming the identity in its own tenant, on a vault that authenticates another tenant.
      { name: 'access-policy vault', vaultUri: VAULT, vault: accessPolicyVault({ tenantId: 'other-tenant' }), scope: VAULT_ID, role: CSEU },
    ];
    for (const c of cases) {
      const { deps, job, row } = scenario({ vaultUri: c.vaultUri, kind: 'AIServices' });
      deps.vaults.put(c.vault);
      deps.grants.views.set('p', { status: 'read', assignments: [{ scope: c.scope, roleDefinitionId: c.role.id, principalId: 'p' }], definitions: [c.role] });
      await runRebind(job, 1, deps, silentLogger());
      assert.equal(deps.accounts.patches.length, 0, c.name);
      assert.equal(row()?.status, 'refused', c.name);
      assert.match(row()?.reason ?? '', /^access-missing: .*tenant t.*tenant other-tenant/, c.name);
    }
  });

  it('switch-key checks the new key: an RBAC role on the old key alone refuses the switch', async () => {
    const { deps } = scenario();
    deps.keys.add(keyVersion(hex(3), { keyName: 'cmk-new' }));
    deps.vaults.put(accessPolicyVault({ enableRbacAuthorization: true, accessPolicies: [] }));
    deps.grants.views.set('p', { status: 'read', assignments: [{ scope: `${VAULT_ID}/keys/cmk`, roleDefinitionId: CSEU.id, principalId: 'p' }], definitions: [CSEU] });
    const result = await runSwitchKey({ kind: 'switch-key', jobId: 'job-00000002', trigger: 'manual', createdAt: now.toISOString(), vaultUri: VAULT, keyName: 'cmk-new', accountId: accountId('a1'), priorAttempts: 0 }, 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'refused');
    assert.match(result.outcome === 'recorded' ? result.record.reason ?? '' : '', /key cmk-new/);
    assert.equal(deps.accounts.patches.length, 0);
  });
});

describe('per-kind rules', () => {
  it('AIServices cannot go back to Microsoft-managed keys: the request is refused up front and nothing is queued or written', async () => {
    const { deps } = scenario({ kind: 'AIServices' });
    const manual = { ...deps, discovery: new FakeDiscovery(deps.accounts), isAllowedVault: () => true } as unknown as ManualDeps;
    const result = await requestEncryptionChange({ accountId: accountId('a1'), keySource: 'Microsoft.CognitiveServices', confirm: 'a1' }, 'alice', manual);
    assert.equal(!result.ok && result.refusal.code, 'cmk-disable-unsupported');
    assert.deepEqual([deps.queue.jobs.length, deps.ledger.rows.size], [0, 0]);
    const openAi = scenario({ kind: 'OpenAI' });
    const allowed = await requestEncryptionChange({ accountId: accountId('a1'), keySource: 'Microsoft.CognitiveServices', confirm: 'a1' }, 'alice', { ...openAi.deps, discovery: new FakeDiscovery(openAi.deps.accounts), isAllowedVault: () => true } as unknown as ManualDeps);
    assert.equal(allowed.ok, true);
  });

  it('a disable job for AIServices that reaches the worker anyway is refused, with no PATCH', async () => {
    const { deps } = scenario({ kind: 'aiservices' });
    const result = await runDisableCmk({ kind: 'disable-cmk', jobId: 'job-00000003', trigger: 'manual', createdAt: now.toISOString(), vaultUri: VAULT, keyName: 'cmk', accountId: accountId('a1'), priorAttempts: 0 }, 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'refused');
    assert.equal(deps.accounts.patches.length, 0);
    assert.equal(cmkDisableRefusal('OpenAI'), undefined);
  });

  it('Managed HSM: supported for AI Foundry, OpenAI, Speech, Translator and Face, not Content Safety, Document Intelligence, Language', () => {
    assert.deepEqual(['AIServices', 'openai', 'SpeechServices', 'TextTranslation', 'Face'].map(managedHsmSupported), [true, true, true, true, true]);
    assert.deepEqual(['ContentSafety', 'FormRecognizer', 'TextAnalytics', undefined].map(managedHsmSupported), [false, false, false, false]);
    assert.equal(managedHsmKindRefusal(boundAccount('a', hex(1), { kind: 'Face' }), HSM), undefined);
    assert.equal(managedHsmKindRefusal(boundAccount('a', hex(1), { kind: 'FormRecognizer' }), VAULT), undefined, 'a vault key is fine for any kind');
    assert.match(managedHsmKindRefusal(boundAccount('a', hex(1), { kind: 'FormRecognizer' }), 'https://x.managedhsm.usgovcloudapi.net/') ?? '', /FormRecognizer/);
  });

  it('a Managed HSM host is <name>.managedhsm.<domain>; a Key Vault named managedhsm is a vault', () => {
    const hosts = ['https://hsm-1.managedhsm.azure.net/', 'https://x.managedhsm.azure.cn/', 'https://h.managedhsm.localhost:8443/', 'https://managedhsm.vault.azure.net/', 'https://kv.vault.azure.net/'];
    assert.deepEqual(hosts.map(isManagedHsmUri), [true, true, true, false, false]);
  });

  it('an account of an unsupported kind bound to an HSM key is a finding; a supported one is not', () => {
    const hsmVault = accessPolicyVault({ id: HSM_ID, name: 'hsm-one', vaultUri: HSM, kind: 'managedHsm', enableRbacAuthorization: true, accessPolicies: [] });
    const judge = (kind: string) => evaluateAccount({
      account: boundAccount('a', hex(1), { kind, binding: { vaultUri: HSM, keyName: 'cmk', keyVersion: hex(1) } }),
      key: { status: 'ok', order: versionOrder(undefined), bound: keyVersion(hex(1), { vaultUri: HSM }), newestUsable: keyVersion(hex(1), { vaultUri: HSM }) },
      vault: { status: 'ok', vault: hsmVault }, grants: { status: 'read', assignments: [{ scope: '/', roleDefinitionId: 'x/role', principalId: 'p' }], definitions: [{ id: 'role', permissions: [{ dataActions: ['Microsoft.KeyVault/managedHsm/keys/*'], notDataActions: [] }] }] },
      policy: { allowedKeySizes: [2048], expiryMarginMs: 0 }, nearExpiryDays: 30, now,
    });
    const f = judge('TextAnalytics').find((x) => x.code === 'managed-hsm-kind-unsupported');
    assert.deepEqual([f?.severity, f?.evidence['kind']], ['warning', 'TextAnalytics']);
    assert.deepEqual(judge('SpeechServices'), []);
  });

  it('a key read through a user-assigned identity: no finding for AIServices, identity-not-system-assigned with the doc for OpenAI', () => {
    const uai = { '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1': { principalId: 'u1', clientId: 'c1' } };
    const judge = (kind: string) => evaluateAccount({
      account: boundAccount('a', hex(1), { kind, identity: { type: 'UserAssigned', tenantId: 't', userAssignedIdentities: uai }, binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: hex(1), identityClientId: 'c1' } }),
      key: { status: 'ok', order: versionOrder(undefined), bound: keyVersion(hex(1)), newestUsable: keyVersion(hex(1)) },
      vault: { status: 'ok', vault: accessPolicyVault({}, ['u1']) }, policy: { allowedKeySizes: [2048], expiryMarginMs: 0 }, nearExpiryDays: 30, now,
    });
    assert.deepEqual(judge('AIServices'), []);
    const [f, ...rest] = judge('OpenAI');
    assert.deepEqual([f?.code, f?.evidence['kind'], f?.evidence['identityClientId'], rest.length], ['identity-not-system-assigned', 'OpenAI', 'c1', 0]);
    assert.match(String(f?.evidence['doc']), /Azure OpenAI CMK doc supports the system-assigned managed identity only/);
  });

  it('user-assigned identities: supported for AIServices, not for OpenAI per its doc, and not documented elsewhere', () => {
    assert.deepEqual([userAssignedKeyIdentity('AIServices').supported, userAssignedKeyIdentity('OpenAI').supported, userAssignedKeyIdentity('Face').supported], [true, false, false]);
    assert.match(userAssignedKeyIdentity('Face').statement, /kind Face; only AI Foundry \(AIServices\) documents it/);
  });
});
