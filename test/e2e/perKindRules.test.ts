import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { accountArmId, accountResource, grantKeyAccess, principalOf } from '../../dev/estate';
import { startLocalStack, type LocalStack } from '../../dev/stack';
import { api } from '../support/localStack';

describe('per-kind rules through the dev host', () => {
  let stack: LocalStack;
  before(async () => {
    stack = await startLocalStack();
  });
  after(() => stack.stop());

  it('an AI Foundry (AIServices) account cannot go back to Microsoft-managed keys: 409 cmk-disable-unsupported, nothing queued, written or sent', async () => {
    const vault = await stack.addVault({ name: 'kv-kinds' });
    const { version } = await vault.createKey('cmk-foundry', { publish: false });
    stack.arm.putAccount(accountResource({ name: 'ais-foundry', kind: 'AIServices', key: { vaultUri: vault.vaultUri, name: 'cmk-foundry', version } }));
    grantKeyAccess(stack.arm, vault, [principalOf('ais-foundry')]);
    const id = accountArmId('ais-foundry');
    const before = stack.arm.account(id);

    const res = await api(stack, 'POST', '/api/accounts/encryption', { accountId: id, keySource: 'Microsoft.CognitiveServices', confirm: 'ais-foundry' });
    assert.equal(res.status, 409);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    assert.equal(res.json.code, 'cmk-disable-unsupported');
    assert.match(res.json.detail, /AI Foundry \(AIServices\) accounts cannot switch from customer-managed keys back to Microsoft-managed keys/);
    assert.deepEqual(res.json.errors.map((e: any) => e.field), ['keySource']);
    await stack.settle();
    assert.deepEqual((await stack.services.ledger.all()).filter((r) => r.accountId === id), []);
    assert.equal(stack.arm.patchCount(id), 0);
    assert.deepEqual(stack.arm.account(id), before);
  });
});
