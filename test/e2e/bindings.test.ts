import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { accountArmId, accountResource, principalOf, vaultResource } from '../../dev/estate';
import type { KeyVaultStandIn } from '../../dev/keyVaultStandIn';
import { startLocalStack, type LocalStack } from '../../dev/stack';
import { api, readAccounts, versionsOf } from '../support/localStack';

const ACCOUNTS = ['aoai-latest-empty', 'aoai-latest-absent', 'aoai-pinme-empty', 'aoai-pinme-absent', 'aoai-switch-empty', 'aoai-switch-absent', 'foundry-scoped', 'foundry-mmk', 'foundry-out', 'foundry-scope-only'];

describe('encryption scopes and versionless bindings through the dev host, enforce mode', () => {
  let stack: LocalStack;
  let vault: KeyVaultStandIn;

  before(async () => {
    stack = await startLocalStack({ settings: { SWEEP_MODE: 'enforce', NEAR_EXPIRY_ACTION: 'notify' } });
    vault = await stack.addVault({ name: 'kv-bindings' });
    // The vault grants every account of this file get, wrapKey and unwrapKey, so the sweep has no access finding to add.
    stack.arm.putVault(vaultResource(vault, { grantKeysTo: ACCOUNTS.map(principalOf) }));
  });
  after(() => stack.stop());

  /** Accounts bound to `keyName` without a version: keyVersion "" (as Terraform sends it) and keyVersion absent. */
  async function versionless(keyName: string, names: [string, string]): Promise<string[]> {
    await vault.createKey(keyName, { kty: 'RSA', size: 2048, publish: false, createdOn: new Date(Date.now() - 86_400_000) });
    stack.arm.putAccount(accountResource({ name: names[0], key: { vaultUri: vault.vaultUri, name: keyName, version: '' } }));
    stack.arm.putAccount(accountResource({ name: names[1], key: { vaultUri: vault.vaultUri, name: keyName } }));
    return names.map((n) => accountArmId(n));
  }
  const patches = (ids: string[]) => ids.map((id) => stack.arm.patchCount(id));

  it('a KeyNewVersionCreated event and an enforce sweep leave both alone: skipped, versionless, no PATCH, finding versionless-binding', async () => {
    const ids = await versionless('cmk-latest', ['aoai-latest-empty', 'aoai-latest-absent']);
    const { version: v2 } = await vault.createKey('cmk-latest', { kty: 'RSA', size: 2048 });
    await stack.settle();
    for (const id of ids) {
      const rows = await stack.services.ledger.history(id, 10);
      assert.deepEqual(rows.map((r) => [r.trigger, r.status, r.toVersion, r.fromVersion]), [['event', 'skipped', v2, undefined]], id);
      assert.match(rows[0]?.reason ?? '', /^versionless: /);
    }

    await stack.host.runTimer('complianceSweep');
    await stack.settle();
    assert.deepEqual(patches(ids), [0, 0]);
    assert.deepEqual(versionsOf(await readAccounts(stack, ids)), ['', ''], 'still versionless, "" and absent alike');
    assert.equal(stack.arm.account(ids[0] ?? '').properties.encryption.keyVaultProperties.keyVersion, '');
    assert.equal('keyVersion' in stack.arm.account(ids[1] ?? '').properties.encryption.keyVaultProperties, false);
    for (const id of ids) {
      const rows = await stack.services.ledger.history(id, 10);
      assert.deepEqual(rows.map((r) => [r.trigger, r.status]), [['sweep', 'skipped'], ['event', 'skipped']], id);
      assert.match(rows[0]?.reason ?? '', /^versionless: /);
    }
    const compliance = await api(stack, 'GET', '/api/compliance');
    for (const id of ids) {
      const mine = compliance.json.findings.filter((f: any) => f.accountId === id);
      assert.deepEqual(mine.map((f: any) => f.code), ['versionless-binding'], id);
      assert.deepEqual([mine[0].severity, mine[0].evidence.currentVersion, mine[0].evidence.boundVersion], ['info', v2, null]);
      assert.match(mine[0].evidence.versionInUse, /Azure shows no version in use/);
    }
  });

  it('a manual rotation without keyVersion leaves it too; with keyVersion a person pins it, and the PATCH is recorded', async () => {
    const ids = await versionless('cmk-pinme', ['aoai-pinme-empty', 'aoai-pinme-absent']);
    const { version: v2 } = await vault.createKey('cmk-pinme', { kty: 'RSA', size: 2048, publish: false });
    const [empty = '', absent = ''] = ids;

    const unnamed = await api(stack, 'POST', '/api/rotations', { accountId: empty });
    assert.equal(unnamed.status, 202);
    await stack.settle();
    const [left] = await stack.services.ledger.history(empty, 5);
    assert.deepEqual([left?.trigger, left?.status], ['manual', 'skipped']);
    assert.match(left?.reason ?? '', /^versionless: /);
    assert.deepEqual(patches(ids), [0, 0]);

    for (const id of ids) {
      const pin = await api(stack, 'POST', '/api/rotations', { accountId: id, keyVersion: v2 }, { headers: { 'x-ms-client-principal-name': 'bob@contoso.com' } });
      assert.equal(pin.status, 202);
    }
    await stack.settle();
    assert.deepEqual(versionsOf(await readAccounts(stack, ids)), [v2, v2]);
    assert.deepEqual(patches(ids), [1, 1]);
    for (const id of [empty, absent]) {
      const [row] = await stack.services.ledger.history(id, 5);
      assert.deepEqual([row?.status, row?.fromVersion, row?.toVersion, row?.actor], ['succeeded', undefined, v2, 'bob@contoso.com'], id);
      assert.match(row?.reason ?? '', new RegExp(`^versionless binding set to version ${v2} by bob@contoso.com; verified`));
    }
  });

  it('a switch to another key keeps a versionless binding versionless: the PATCH names the key and no version', async () => {
    const ids = await versionless('cmk-switch-from', ['aoai-switch-empty', 'aoai-switch-absent']);
    const { version: current } = await vault.createKey('cmk-switch-to', { kty: 'RSA', size: 2048, publish: false });
    for (const id of ids) assert.equal((await api(stack, 'POST', '/api/accounts/encryption', { accountId: id, keyName: 'cmk-switch-to' })).status, 202);
    await stack.settle();
    assert.deepEqual(patches(ids), [1, 1]);
    for (const id of ids) {
      assert.deepEqual(stack.arm.account(id).properties.encryption.keyVaultProperties, { keyVaultUri: vault.vaultUri, keyName: 'cmk-switch-to', keyVersion: '' }, id);
      const [row] = await stack.services.ledger.history(id, 5);
      assert.deepEqual([row?.status, row?.keyName, row?.fromVersion, row?.toVersion], ['succeeded', 'cmk-switch-to', undefined, ''], id);
      assert.match(row?.reason ?? '', new RegExp(`^switch-key from cmk-switch-from, versionless \\(the account uses cmk-switch-to's current version, ${current}\\); verified`));
    }
  });

  it('a KeyNewVersionCreated event rebinds the scopes bound to the key, each under its account\'s lease, each row naming its scope', async () => {
    const { version: v1 } = await vault.createKey('cmk-scoped', { kty: 'RSA', size: 2048, publish: false, createdOn: new Date(Date.now() - 86_400_000) });
    const scoped = accountArmId('foundry-scoped');
    const mmk = accountArmId('foundry-mmk');
    stack.arm.putAccount(accountResource({ name: 'foundry-scoped', kind: 'AIServices', key: { vaultUri: vault.vaultUri, name: 'cmk-scoped', version: v1 } }));
    stack.arm.putAccount(accountResource({ name: 'foundry-mmk', kind: 'AIServices' }));
    const scope = (account: string, name: string, keyVersion?: string) => stack.arm.putScope({
      id: `${account}/encryptionScopes/${name}`, name,
      properties: { keySource: 'Microsoft.KeyVault', state: 'Enabled', provisioningState: 'Succeeded', keyVaultProperties: { keyVaultUri: vault.vaultUri, keyName: 'cmk-scoped', ...(keyVersion !== undefined ? { keyVersion } : {}) } },
    });
    scope(scoped, 'project-a', v1);
    scope(scoped, 'project-latest', '');
    scope(mmk, 'project-b', v1);
    // Resource Graph does not index scopes: a sweep lists them and indexes the CMK ones, for events to find.
    await stack.host.runTimer('complianceSweep');
    await stack.settle();
    const { version: v2 } = await vault.createKey('cmk-scoped', { kty: 'RSA', size: 2048 });
    await stack.settle();

    const keyOf = (id: string) => stack.arm.scope(id)?.properties.keyVaultProperties.keyVersion;
    assert.deepEqual([keyOf(`${scoped}/encryptionScopes/project-a`), keyOf(`${scoped}/encryptionScopes/project-latest`), keyOf(`${mmk}/encryptionScopes/project-b`)], [v2, '', v2]);
    assert.equal(stack.arm.account(scoped).properties.encryption.keyVaultProperties.keyVersion, v2, "the account's own binding moved by its own rules");
    assert.equal('encryption' in stack.arm.account(mmk).properties, false, 'an account on Microsoft-managed keys keeps them; only its scope moved');
    const rows = (await stack.services.ledger.history(scoped, 10)).map((r) => [r.encryptionScope ?? '', r.status, r.fromVersion, r.toVersion]).sort();
    assert.deepEqual(rows, [['', 'succeeded', v1, v2], ['project-a', 'succeeded', v1, v2], ['project-latest', 'skipped', undefined, v1], ['project-latest', 'skipped', undefined, v2]].sort());
    const api1 = await api(stack, 'GET', `/api/rotations?accountId=${encodeURIComponent(mmk)}`);
    assert.deepEqual(api1.json.rotations.map((r: any) => [r.encryptionScope, r.status, r.trigger]), [['project-b', 'succeeded', 'event']]);
    assert.equal(stack.arm.scopeWrites.filter((w) => w.status < 300).length, 2, 'one PUT per rebound scope; none for the versionless one');
    assert.equal(stack.arm.patchCount(mmk), 0);

    // The sweep judges each scope by itself: the versionless one is reported, the rebound ones are healthy.
    await stack.host.runTimer('complianceSweep');
    await stack.settle();
    const compliance = await api(stack, 'GET', '/api/compliance');
    const mine = compliance.json.findings.filter((f: any) => f.accountId === scoped).map((f: any) => `${f.encryptionScope ?? ''}:${f.code}`);
    assert.deepEqual(mine, ['project-latest:versionless-binding']);
  });
  it('an account tagged opt-out since the sweep indexed its scope: the event leaves the scope alone too (the job reads the tag fresh)', async () => {
    const { version: v1 } = await vault.createKey('cmk-out', { kty: 'RSA', size: 2048, publish: false, createdOn: new Date(Date.now() - 86_400_000) });
    const id = accountArmId('foundry-out');
    const account = (tags: Record<string, string>) => accountResource({ name: 'foundry-out', kind: 'AIServices', tags, key: { vaultUri: vault.vaultUri, name: 'cmk-out', version: v1 } });
    stack.arm.putAccount(account({}));
    stack.arm.putScope({
      id: `${id}/encryptionScopes/proj`, name: 'proj',
      properties: { keySource: 'Microsoft.KeyVault', state: 'Enabled', provisioningState: 'Succeeded', keyVaultProperties: { keyVaultUri: vault.vaultUri, keyName: 'cmk-out', keyVersion: v1 } },
    });
    await stack.host.runTimer('complianceSweep');
    await stack.settle();
    // The owner opts the account out; the scope index still holds the tags the sweep saw.
    stack.arm.putAccount(account({ 'cmk-rotator:opt-out': 'true' }));
    await vault.createKey('cmk-out', { kty: 'RSA', size: 2048 });
    await stack.settle();
    assert.equal(stack.arm.scope(`${id}/encryptionScopes/proj`)?.properties.keyVaultProperties.keyVersion, v1);
    assert.equal(stack.arm.account(id).properties.encryption.keyVaultProperties.keyVersion, v1);
    const rows = (await stack.services.ledger.history(id, 10)).filter((r) => r.trigger === 'event');
    assert.deepEqual(rows.map((r) => [r.encryptionScope, r.status, r.reason]), [['proj', 'skipped', 'opted-out: the account carries the tag cmk-rotator:opt-out']]);
  });
  it('a request for every binding to a key leaves an account tagged since the sweep indexed its scope, and says so', async () => {
    const id = accountArmId('foundry-out');
    const { version: v2 } = await vault.createKey('cmk-out', { kty: 'RSA', size: 2048, publish: false });
    const dry = await api(stack, 'POST', '/api/rotations', { vaultUri: vault.vaultUri, keyName: 'cmk-out', dryRun: true });
    assert.deepEqual(dry.json.plan.map((l: any) => [l.encryptionScope, l.decision, l.reason]), [['proj', 'skipped', 'opted-out: the account carries the tag cmk-rotator:opt-out']]);
    assert.equal((await api(stack, 'POST', '/api/rotations', { vaultUri: vault.vaultUri, keyName: 'cmk-out' })).status, 202);
    await stack.settle();
    assert.notEqual(stack.arm.scope(`${id}/encryptionScopes/proj`)?.properties.keyVaultProperties.keyVersion, v2);
    const [row] = (await stack.services.ledger.history(id, 10)).filter((r) => r.trigger === 'manual');
    assert.deepEqual([row?.encryptionScope, row?.status, row?.reason], ['proj', 'skipped', 'opted-out: the account carries the tag cmk-rotator:opt-out']);
  });

  it('a key bound only through a scope found in the index: its dry runs and rotateKey judge the account as ARM has it', async () => {
    const { version: v1 } = await vault.createKey('cmk-scope-only', { kty: 'RSA', size: 2048, publish: false, createdOn: new Date(Date.now() - 86_400_000) });
    const id = accountArmId('foundry-scope-only');
    stack.arm.putAccount(accountResource({ name: 'foundry-scope-only', kind: 'AIServices' }));
    stack.arm.putScope({
      id: `${id}/encryptionScopes/proj`, name: 'proj',
      properties: { keySource: 'Microsoft.KeyVault', state: 'Enabled', provisioningState: 'Succeeded', keyVaultProperties: { keyVaultUri: vault.vaultUri, keyName: 'cmk-scope-only', keyVersion: v1 } },
    });
    await stack.host.runTimer('complianceSweep');
    await stack.settle();
    const key = { vaultUri: vault.vaultUri, keyName: 'cmk-scope-only' };
    for (const rotateKey of [false, true]) {
      const dry = await api(stack, 'POST', '/api/rotations', { ...key, dryRun: true, ...(rotateKey ? { rotateKey } : {}) });
      assert.deepEqual(dry.json.plan.map((l: any) => [l.encryptionScope, l.decision]), [['proj', rotateKey ? 'patch' : 'already-current']], JSON.stringify(dry.json));
    }
    const rotated = await api(stack, 'POST', '/api/rotations', { ...key, rotateKey: true });
    assert.equal(rotated.status, 202, JSON.stringify(rotated.json));
    await stack.settle();
    const now = stack.arm.scope(`${id}/encryptionScopes/proj`)?.properties.keyVaultProperties.keyVersion;
    assert.notEqual(now, v1, 'the scope moved to the version the request made');
  });
});
