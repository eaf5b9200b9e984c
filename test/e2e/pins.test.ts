import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KeyVaultStandIn } from '../../dev/keyVaultStandIn';
import { startLocalStack, type LocalStack } from '../../dev/stack';
import { api, boundScenario, versionsOf, readAccounts } from '../support/localStack';

describe('§2a: a person\'s rollback holds (pins) through the dev host, enforce mode', () => {
  let stack: LocalStack;
  let vault: KeyVaultStandIn;

  before(async () => {
    stack = await startLocalStack({ settings: { SWEEP_MODE: 'enforce' } });
    vault = await stack.addVault({ name: 'kv-pins' });
  });
  after(() => stack.stop());

  it('a forced rollback pins the account: a pending event and the next enforce sweep leave it, the sweep reports who and why', async () => {
    const { ids, v1 } = await boundScenario(stack, vault, 'cmk-pin', ['aoai-pin']);
    const id = ids[0] ?? '';
    // v2 arrives and is bound by its event; then it turns out to break fine-tuning.
    const { version: v2 } = await vault.createKey('cmk-pin', { kty: 'RSA', size: 2048 });
    await stack.settle();
    assert.deepEqual(versionsOf(await readAccounts(stack, ids)), [v2]);

    const rollback = await api(stack, 'POST', '/api/rotations', { accountId: id, keyVersion: v1, force: true, reason: 'v2 breaks fine-tuning' }, { headers: { 'x-ms-client-principal-name': 'alice@contoso.com' } });
    assert.equal(rollback.status, 202);
    await stack.settle();
    assert.deepEqual(versionsOf(await readAccounts(stack, ids)), [v1]);

    // Key Vault delivers v2's event again (at least once), and an enforce sweep runs.
    await vault.publish('KeyNewVersionCreated', 'cmk-pin', v2);
    await stack.host.runTimer('complianceSweep');
    await stack.settle();
    assert.deepEqual(versionsOf(await readAccounts(stack, ids)), [v1], 'still on the version the person chose');

    const history = await api(stack, 'GET', `/api/rotations?accountId=${encodeURIComponent(id)}&limit=10`);
    const skipped = history.json.rotations.filter((r: any) => r.status === 'skipped');
    assert.ok(skipped.length >= 1 && skipped.every((r: any) => /^pinned by alice@contoso.com to .*: v2 breaks fine-tuning/.test(r.reason)), JSON.stringify(history.json.rotations));
    const compliance = await api(stack, 'GET', '/api/compliance');
    const pinned = compliance.json.findings.find((f: any) => f.accountId === id && f.code === 'pinned');
    assert.deepEqual([pinned?.severity, pinned?.evidence.actor, pinned?.evidence.reason, pinned?.evidence.pinnedVersion], ['info', 'alice@contoso.com', 'v2 breaks fine-tuning', v1]);
    assert.equal(compliance.json.findings.some((f: any) => f.accountId === id && f.code === 'version-drift'), false);
    assert.equal(compliance.json.sweep.remediationsQueued, 0);
  });

  it('DELETE /api/accounts/pin releases it (404 when there is none), and the next enforce sweep moves the account forward', async () => {
    const { ids, v1 } = await boundScenario(stack, vault, 'cmk-unpin', ['aoai-unpin']);
    const id = ids[0] ?? '';
    const { version: v2 } = await vault.createKey('cmk-unpin', { kty: 'RSA', size: 2048, publish: false });
    await api(stack, 'POST', '/api/rotations', { accountId: id, keyVersion: v1, force: true });
    await stack.settle();
    assert.ok(await stack.services.pins.get(id));

    const released = await api(stack, 'DELETE', '/api/accounts/pin', { accountId: id });
    assert.equal(released.status, 200);
    assert.equal(released.json.released.keyVersion, v1);
    assert.equal((await api(stack, 'DELETE', '/api/accounts/pin', { accountId: id })).json.code, 'pin-not-found');
    assert.equal((await api(stack, 'DELETE', '/api/accounts/pin', { accountId: 'not-an-id' })).status, 400);

    await stack.host.runTimer('complianceSweep');
    await stack.settle();
    assert.deepEqual(versionsOf(await readAccounts(stack, ids)), [v2]);
  });

  it('a manual rotation without force releases the pin too, and the row says whose pin it was', async () => {
    const { ids, v1 } = await boundScenario(stack, vault, 'cmk-repin', ['aoai-repin']);
    const id = ids[0] ?? '';
    const { version: v2 } = await vault.createKey('cmk-repin', { kty: 'RSA', size: 2048, publish: false });
    await api(stack, 'POST', '/api/rotations', { accountId: id, keyVersion: v1, force: true }, { headers: { 'x-ms-client-principal-name': 'bob@contoso.com' } });
    await stack.settle();
    const plain = await api(stack, 'POST', '/api/rotations', { accountId: id });
    await stack.settle();
    const row = await api(stack, 'GET', plain.json.jobs[0].location);
    assert.equal(row.json.status, 'succeeded');
    assert.equal(row.json.toVersion, v2);
    assert.match(row.json.reason, /released the pin to .* set by bob@contoso.com/);
    assert.equal(await stack.services.pins.get(id), undefined);
  });
});
