import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { accountArmId, accountResource, grantRole, managedHsmResource, principalOf } from '../../dev/estate';
import { startLocalStack, type LocalStack } from '../../dev/stack';

// Managed HSM publishes no Event Grid key events: the enforce-mode sweep is how HSM-bound accounts follow new versions.
describe('Managed HSM keys through the dev host, enforce mode', () => {
  let stack: LocalStack;
  before(async () => {
    stack = await startLocalStack({ settings: { SWEEP_MODE: 'enforce' } });
  });
  after(() => stack.stop());

  it('an HSM-bound account moves to the new HSM key version at the next sweep; a kind without HSM support is refused and reported', async () => {
    const hsm = await stack.addVault({ name: 'hsm-e2e', managedHsm: true });
    stack.arm.putManagedHsm(managedHsmResource(hsm));
    const { version: v1 } = await hsm.createKey('cmk-hsm', { createdOn: new Date(Date.now() - 86_400_000) });
    const key = { vaultUri: hsm.vaultUri, name: 'cmk-hsm', version: v1 };
    stack.arm.putAccount(accountResource({ name: 'ais-hsm', kind: 'AIServices', key }));
    stack.arm.putAccount(accountResource({ name: 'lang-hsm', kind: 'TextAnalytics', key }));
    // Local RBAC: the least-privilege role on the key itself, and for the Language account on the whole HSM.
    grantRole(stack.arm, hsm, principalOf('ais-hsm'), { scope: '/keys/cmk-hsm' });
    grantRole(stack.arm, hsm, principalOf('lang-hsm'));
    const [foundry, language] = [accountArmId('ais-hsm'), accountArmId('lang-hsm')];

    const { version: v2 } = await hsm.createKey('cmk-hsm');
    await stack.settle();
    assert.deepEqual(hsm.events, [], 'no key event was published');
    assert.equal(stack.arm.patchCount(foundry), 0, 'nothing moves without the sweep');

    await stack.host.runTimer('complianceSweep');
    await stack.settle();
    assert.equal((await stack.services.accounts.getAccount(foundry))?.binding?.keyVersion, v2);
    assert.equal(stack.arm.patchCount(foundry), 1);
    const rows = await stack.services.ledger.all();
    assert.deepEqual(rows.filter((r) => r.accountId === foundry).map((r) => [r.trigger, r.status, r.toVersion]), [['sweep', 'succeeded', v2]]);

    const refused = rows.filter((r) => r.accountId === language);
    assert.deepEqual(refused.map((r) => r.status), ['refused']);
    assert.match(refused[0]?.reason ?? '', /^managed-hsm-kind-unsupported: .*not TextAnalytics/);
    assert.equal(stack.arm.patchCount(language), 0);
    assert.equal((await stack.services.accounts.getAccount(language))?.binding?.keyVersion, v1);
    const findings = await stack.services.findings.list({ accountId: language });
    assert.ok(findings.some((f) => f.code === 'managed-hsm-kind-unsupported' && f.evidence['kind'] === 'TextAnalytics'));
    assert.deepEqual((await stack.services.findings.list({ accountId: foundry })).map((f) => f.code), ['version-drift'], 'before its repair, drift was all');
  });
});
