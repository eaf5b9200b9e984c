import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { accountArmId, accountResource, grantKeyAccess, principalOf } from '../../dev/estate';
import { startLocalStack, type LocalStack } from '../../dev/stack';

describe('a key bound to many accounts under ARM write throttling', () => {
  let stack: LocalStack;
  before(async () => {
    // ARM's write bucket, shrunk: a burst of 10 (a burst of a few would make the figure one of scheduling jitter) and 1 per second, sped up 20 times: 50 PATCHes must wait 2.5 s.
    stack = await startLocalStack({ arm: { throttle: { timeScale: 20, writes: { burst: 10, perSecond: 1 } } } });
  });
  after(() => stack.stop());

  it('every account ends on the new version, paced to the bucket instead of collecting 429s, one succeeded row each', async () => {
    const vault = await stack.addVault({ name: 'kv-many' });
    const { version: v1 } = await vault.createKey('cmk-many', { publish: false });
    const names = Array.from({ length: 60 }, (_, i) => `aoai-many-${i}`);
    for (const name of names) stack.arm.putAccount(accountResource({ name, key: { vaultUri: vault.vaultUri, name: 'cmk-many', version: v1 } }));
    grantKeyAccess(stack.arm, vault, names.map(principalOf));

    const { version: v2 } = await vault.createKey('cmk-many', {});
    await stack.settle();

    const accounts = await Promise.all(names.map((n) => stack.services.accounts.getAccount(accountArmId(n))));
    assert.deepEqual(new Set(accounts.map((a) => a?.binding?.keyVersion)), new Set([v2]));
    const patches = stack.arm.requests.filter((r) => r.method === 'PATCH');
    assert.ok(patches.length >= 60);
    const throttled = patches.filter((r) => r.status === 429).length;
    assert.ok(throttled <= patches.length * 0.1, `the pacer kept writes within the bucket: ${throttled} of ${patches.length} PATCHes answered 429`);
    assert.ok(stack.services.pacer.waitedMs > 0, 'writes waited for tokens: 60 PATCHes do not fit a burst of 10');
    const rows = await stack.services.ledger.all();
    const succeeded = rows.filter((r) => r.status === 'succeeded' && r.toVersion === v2);
    assert.equal(succeeded.length, 60);
    assert.equal(new Set(succeeded.map((r) => r.accountId)).size, 60);
    assert.deepEqual(rows.filter((r) => r.status === 'failed'), []);
  });
});
