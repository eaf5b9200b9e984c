import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { accountArmId, accountResource, grantRole, principalOf, vaultResource } from '../../dev/estate';
import type { KeyVaultStandIn } from '../../dev/keyVaultStandIn';
import { startLocalStack, type LocalStack } from '../../dev/stack';
import { api } from '../support/localStack';

// An RBAC vault: the account identity's access is proven from its role assignments before any PATCH.
describe('RBAC vault preflight through the dev host', () => {
  let stack: LocalStack;
  let vault: KeyVaultStandIn;
  const id = accountArmId('aoai-rbac');
  const rowsOf = async () => (await stack.services.ledger.all()).filter((r) => r.accountId === id);

  before(async () => {
    stack = await startLocalStack();
    vault = await stack.addVault({ name: 'kv-rbac-e2e' });
    stack.arm.putVault(vaultResource(vault, { rbac: true }));
    const { version: v1 } = await vault.createKey('cmk-rbac', { publish: false, createdOn: new Date(Date.now() - 86_400_000) });
    stack.arm.putAccount(accountResource({ name: 'aoai-rbac', key: { vaultUri: vault.vaultUri, name: 'cmk-rbac', version: v1 } }));
  });
  after(() => stack.stop());

  it('without a role, the new version is refused before any PATCH: ledger row refused, the account untouched; the dry run says the same', async () => {
    const before = stack.arm.account(id);
    await vault.createKey('cmk-rbac');
    await stack.settle();
    const rows = await rowsOf();
    assert.deepEqual(rows.map((r) => r.status), ['refused']);
    assert.match(rows[0]?.reason ?? '', new RegExp(`^access-missing: no role of ${principalOf('aoai-rbac')} at or above key cmk-rbac in kv-rbac-e2e grants get, wrapKey, unwrapKey`));
    assert.equal(stack.arm.patches.filter((p) => p.accountId.toLowerCase() === id.toLowerCase()).length, 0, 'no PATCH reached ARM');
    assert.deepEqual(stack.arm.account(id), before);
    const plan = await api(stack, 'POST', '/api/rotations', { accountId: id, dryRun: true });
    assert.deepEqual([plan.json.plan[0].decision, /^access-missing/.test(plan.json.plan[0].reason)], ['refused', true]);
  });

  it("without a role, rotateKey's dry run says refused with the worker's reason, and the request itself is refused before the key is rotated", async () => {
    const refusedRow = (await rowsOf()).find((r) => r.status === 'refused');
    const dry = await api(stack, 'POST', '/api/rotations', { accountId: id, rotateKey: true, dryRun: true });
    assert.deepEqual(dry.json.plan.map((l: { decision: string; reason: string }) => [l.decision, l.reason]), [['refused', refusedRow?.reason]]);
    const eventsBefore = vault.events.length;
    const res = await api(stack, 'POST', '/api/rotations', { accountId: id, rotateKey: true });
    assert.deepEqual([res.status, res.json.code], [409, 'preflight-refused']);
    await stack.settle();
    assert.equal(vault.events.length, eventsBefore, 'no new version, no event');
    assert.equal((await rowsOf()).length, 1, 'nothing queued or written');
  });

  it('with Key Vault Crypto Service Encryption User on the key, the next version is bound', async () => {
    grantRole(stack.arm, vault, principalOf('aoai-rbac'), { scope: `${vault.armId}/keys/cmk-rbac` });
    const { version: v3 } = await vault.createKey('cmk-rbac');
    await stack.settle();
    assert.equal((await stack.services.accounts.getAccount(id))?.binding?.keyVersion, v3);
    assert.equal(stack.arm.patchCount(id), 1);
    assert.equal((await rowsOf()).filter((r) => r.status === 'succeeded').length, 1);
  });

  it('when the service may not read role assignments, the job is refused naming the permission it lacks', async () => {
    stack.arm.denyAuthorizationRead('roleAssignments');
    try {
      await vault.createKey('cmk-rbac');
      await stack.settle();
    } finally {
      stack.arm.denyAuthorizationRead('roleAssignments', false);
    }
    const refused = (await rowsOf()).filter((r) => r.status === 'refused');
    assert.equal(refused.length, 2);
    assert.ok(refused.some((r) => /^access-unverifiable: .*lacks Microsoft\.Authorization\/roleAssignments\/read/.test(r.reason ?? '')));
    assert.equal(stack.arm.patchCount(id), 1, 'no further PATCH');
  });
});
