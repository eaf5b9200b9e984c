import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { seedComplianceEstate, type ComplianceEstate } from '../../dev/complianceEstate';
import { accountArmId, accountResource, principalOf, vaultResource } from '../../dev/estate';
import { startLocalStack, type LocalStack } from '../../dev/stack';
import { api } from '../support/localStack';

async function findingsByLabel(stack: LocalStack, estate: ComplianceEstate): Promise<Record<string, string[]>> {
  const all = await stack.services.findings.list();
  return Object.fromEntries(
    Object.entries(estate.accounts).map(([label, id]) => [label, all.filter((f) => f.accountId === id).map((f) => f.code).sort()]),
  );
}

const sorted = (expected: Record<string, string[]>) => Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, [...v].sort()]));

describe('compliance sweep over a mixed estate, report mode', () => {
  let stack: LocalStack;
  let estate: ComplianceEstate;
  before(async () => {
    stack = await startLocalStack({ settings: { SWEEP_MODE: 'report' }, arm: { pageSize: 3 } });
    estate = await seedComplianceEstate(stack);
  });
  after(() => stack.stop());

  it('reports exactly the expected findings, a summary row, and changes nothing', async () => {
    const accountsBefore = Object.values(estate.accounts).map((id) => stack.arm.account(id));
    await stack.host.runTimer('complianceSweep');
    await stack.settle();

    assert.deepEqual(await findingsByLabel(stack, estate), sorted(estate.expected));
    const sweep = await stack.services.sweeps.latest();
    assert.equal(sweep?.status, 'completed');
    assert.equal(sweep?.trigger, 'timer');
    assert.equal(sweep?.mode, 'report');
    assert.equal(sweep?.accountsSeen, 10);
    assert.equal(sweep?.keysRead, 5);
    assert.equal(sweep?.remediationsQueued, 0);
    assert.deepEqual(sweep?.findingsBySeverity, { critical: 1, warning: 6, info: 0 });
    assert.equal(sweep?.findingsByCode['version-drift'], 1);
    assert.deepEqual(Object.values(estate.accounts).map((id) => stack.arm.account(id)), accountsBefore);
    assert.equal(stack.arm.requests.filter((r) => r.method === 'PATCH').length, 0);
    assert.deepEqual(await stack.services.ledger.all(), []);
  });

  it('GET /api/compliance returns the latest summary and filters findings by severity', async () => {
    const all = await api(stack, 'GET', '/api/compliance');
    assert.equal(all.status, 200);
    assert.equal(all.json.sweep.status, 'completed');
    const pairs = (findings: Array<{ accountId: string; code: string; encryptionScope?: string }>) => findings.map((f) => `${f.accountId} ${f.code} ${f.encryptionScope ?? ''}`).sort();
    assert.deepEqual(pairs(all.json.findings), pairs(await stack.services.findings.list()), 'every stored finding, unfiltered');
    const critical = await api(stack, 'GET', '/api/compliance?severity=critical');
    assert.deepEqual(critical.json.findings.map((f: any) => [f.accountId, f.code]), [[estate.accounts.rbacMissing, 'access-missing']]);
    assert.equal(critical.json.findings[0].evidence.plane, 'vault-rbac');
    const bad = await api(stack, 'GET', '/api/compliance?severity=urgent');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.errors[0].field, 'severity');
  });

  it('POST /api/compliance/sweeps runs one now (202), and answers 409 with the running id while one runs', async () => {
    const held = await stack.services.sweeps.lock('sweep-in-progress', 60_000);
    assert.equal(held.held, false);
    const busy = await api(stack, 'POST', '/api/compliance/sweeps');
    assert.equal(busy.status, 409);
    assert.equal(busy.json.code, 'sweep-running');
    assert.equal(busy.json.runningSweepId, 'sweep-in-progress');
    await stack.services.sweeps.unlock('sweep-in-progress');

    const started = await api(stack, 'POST', '/api/compliance/sweeps');
    assert.equal(started.status, 202);
    await stack.settle();
    const latest = await stack.services.sweeps.latest();
    assert.equal(latest?.sweepId, started.json.sweepId);
    assert.equal(latest?.trigger, 'manual');
    assert.equal(latest?.status, 'completed');
  });

  it('a sweep that loses the ARM connection half-way is recorded as partial and keeps earlier findings', async () => {
    const before = await findingsByLabel(stack, estate);
    // Resource Graph's connection drops for every retry.
    stack.arm.fail({ method: 'POST', path: /Microsoft\.ResourceGraph\/resources$/i, reset: true, times: 20 });
    await stack.host.runTimer('complianceSweep');
    stack.arm.clearFaults();
    const sweep = await stack.services.sweeps.latest();
    assert.equal(sweep?.status, 'partial');
    assert.match(sweep?.errors.join(' ') ?? '', /discovery failed part-way: querying Resource Graph/);
    assert.ok((sweep?.accountsSeen ?? 0) < 10);
    assert.deepEqual(await findingsByLabel(stack, estate), before, 'accounts not seen keep their findings');
  });
  it('a key that cannot be read makes the run partial, and its accounts keep their last findings', async () => {
    stack.arm.clearFaults();
    const before = await findingsByLabel(stack, estate);
    const purgeableVault = stack.vaults.find((v) => v.name.endsWith('kv-purgeable'));
    await purgeableVault?.close();
    await stack.host.runTimer('complianceSweep');
    const sweep = await stack.services.sweeps.latest();
    assert.equal(sweep?.status, 'partial');
    assert.match(sweep?.errors.join(' ') ?? '', /cmk-purge/);
    assert.deepEqual((await findingsByLabel(stack, estate)).purgeable, before.purgeable);
    assert.deepEqual(before.purgeable, ['vault-not-recoverable']);
  });
});

describe('compliance sweep, enforce mode', () => {
  let stack: LocalStack;
  let estate: ComplianceEstate;
  before(async () => {
    stack = await startLocalStack({ settings: { SWEEP_MODE: 'enforce', NEAR_EXPIRY_ACTION: 'notify' } });
    estate = await seedComplianceEstate(stack, 'e');
  });
  after(() => stack.stop());

  it('fixes only the drift, through the same worker and rules, recorded with trigger sweep', async () => {
    const others = Object.entries(estate.accounts).filter(([label]) => label !== 'drift');
    const othersBefore = others.map(([, id]) => stack.arm.account(id));
    await stack.host.runTimer('complianceSweep');
    await stack.settle();

    const drift = estate.accounts.drift ?? '';
    assert.equal((await stack.services.accounts.getAccount(drift))?.binding?.keyVersion, estate.driftTarget);
    assert.equal(stack.arm.patchCount(drift), 1);
    assert.deepEqual(others.map(([, id]) => stack.arm.account(id)), othersBefore);
    const rows = await stack.services.ledger.all();
    assert.deepEqual(rows.map((r) => [r.accountId, r.trigger, r.status, r.toVersion]), [[drift, 'sweep', 'succeeded', estate.driftTarget]]);
    assert.equal((await stack.services.sweeps.latest())?.remediationsQueued, 1);
  });
});

describe('Key Vault expiry events', () => {
  let stack: LocalStack;
  before(async () => {
    stack = await startLocalStack({ settings: { NEAR_EXPIRY_ACTION: 'rotate' } });
  });
  after(() => stack.stop());

  it('KeyNearExpiry with rotate: one new version, one PATCH per account, though its own event arrives too', async () => {
    const vault = await stack.addVault({ name: 'kv-expiry' });
    // A version that lived 60 days and expires in 5: rotating helps (a new one will not be near expiry at birth).
    const { version } = await vault.createKey('cmk-exp', { publish: false, createdOn: new Date(Date.now() - 60 * 86_400_000), expiresOn: new Date(Date.now() + 5 * 86_400_000) });
    const { accountArmId, accountResource, grantKeyAccess, principalOf } = await import('../../dev/estate');
    for (const name of ['aoai-exp-1', 'aoai-exp-2']) stack.arm.putAccount(accountResource({ name, key: { vaultUri: vault.vaultUri, name: 'cmk-exp', version } }));
    grantKeyAccess(stack.arm, vault, ['aoai-exp-1', 'aoai-exp-2'].map(principalOf));
    const ids = ['aoai-exp-1', 'aoai-exp-2'].map((n) => accountArmId(n));
    const eventsBefore = vault.events.length;

    await vault.publish('KeyNearExpiry', 'cmk-exp', version);
    await stack.settle();
    // The same near-expiry event again (at-least-once delivery) must not rotate a second time.
    await vault.publish('KeyNearExpiry', 'cmk-exp', version);
    await stack.settle();

    const created = vault.events.slice(eventsBefore).filter((e: any) => e.event.eventType === 'Microsoft.KeyVault.KeyNewVersionCreated');
    assert.equal(created.length, 1, 'exactly one rotation');
    const v2 = (created[0]?.event as any).data.Version;
    for (const id of ids) {
      assert.equal((await stack.services.accounts.getAccount(id))?.binding?.keyVersion, v2);
      assert.equal(stack.arm.patchCount(id), 1);
    }
  });

  it('KeyNearExpiry with rotate does not rotate a version younger than NEAR_EXPIRY_DAYS (a new one would be near expiry too)', async () => {
    const vault = await stack.addVault({ name: 'kv-short-lived' });
    const { version } = await vault.createKey('cmk-short', { publish: false, expiresOn: new Date(Date.now() + 5 * 86_400_000) });
    const { accountArmId, accountResource } = await import('../../dev/estate');
    stack.arm.putAccount(accountResource({ name: 'aoai-short', key: { vaultUri: vault.vaultUri, name: 'cmk-short', version } }));
    await vault.publish('KeyNearExpiry', 'cmk-short', version);
    await stack.settle();
    assert.equal(vault.events.filter((e: any) => e.event.eventType === 'Microsoft.KeyVault.KeyNewVersionCreated').length, 0);
    assert.equal(stack.arm.patchCount(accountArmId('aoai-short')), 0);
    assert.ok(stack.host.logs.some((l) => l.level === 'warning' && l.event === 'key.not-rotated'));
  });

  it('KeyExpired re-reads the key and records a critical finding; nothing is bound', async () => {
    const vault = await stack.addVault({ name: 'kv-expired' });
    const { version } = await vault.createKey('cmk-dead', { publish: false, expiresOn: new Date(Date.now() - 60_000) });
    const { accountArmId, accountResource } = await import('../../dev/estate');
    stack.arm.putAccount(accountResource({ name: 'aoai-dead', key: { vaultUri: vault.vaultUri, name: 'cmk-dead', version } }));
    const id = accountArmId('aoai-dead');

    await vault.publish('KeyExpired', 'cmk-dead', version);
    await stack.settle();
    const findings = await stack.services.findings.list({ accountId: id });
    assert.deepEqual(findings.map((f) => [f.code, f.severity]), [['key-expired', 'critical']]);
    assert.equal(stack.arm.patchCount(id), 0);
    assert.ok(stack.host.logs.some((l) => l.level === 'error' && l.event === 'finding.critical' && l.fields.code === 'key-expired'));
  });
});

describe('sweep cost', () => {
  let stack: LocalStack;
  before(async () => {
    stack = await startLocalStack({ arm: { pageSize: 100 } });
  });
  after(() => stack.stop());

  it('Key Vault calls grow with keys, not with accounts; ARM calls grow only by one scope listing per account', async () => {
    const { accountResource, vaultResource } = await import('../../dev/estate');
    const vault = await stack.addVault({ name: 'kv-cost' });
    stack.arm.putVault(vaultResource(vault));
    const keys = await Promise.all(['k1', 'k2'].map(async (name) => ({ name, version: (await vault.createKey(name, { publish: false })).version })));
    const addAccounts = (from: number, count: number) => {
      for (let i = from; i < from + count; i++) {
        const key = keys[i % keys.length] ?? { name: 'k1', version: '' };
        stack.arm.putAccount(accountResource({ name: `aoai-cost-${i}`, key: { vaultUri: vault.vaultUri, name: key.name, version: key.version } }));
      }
    };
    const measure = async () => {
      const kv = vault.requests.length;
      const arm = stack.arm.requests.length;
      await stack.host.runTimer('complianceSweep');
      const made = stack.arm.requests.slice(arm);
      const scopeLists = made.filter((r) => /\/encryptionScopes$/i.test(r.path)).length;
      return { kv: vault.requests.length - kv, arm: made.length - scopeLists, scopeLists };
    };
    addAccounts(0, 4);
    await measure(); // the first call of each client is Key Vault's 401 challenge
    const small = await measure();
    addAccounts(4, 36);
    const large = await measure();
    assert.equal((await stack.services.sweeps.latest())?.accountsSeen, 40);
    assert.equal(large.kv, small.kv, `Key Vault calls: ${small.kv} for 4 accounts, ${large.kv} for 40`);
    assert.equal(large.arm, small.arm, `ARM calls besides scope listings: ${small.arm} for 4 accounts, ${large.arm} for 40`);
    // Resource Graph does not index encryption scopes: each account's are listed through ARM.
    assert.deepEqual([small.scopeLists, large.scopeLists], [4, 40]);
    // Per key, at once: the version listing, the current version, and the bound version (the current one here: read
    // twice, so that judging waits for one round trip, not two).
    assert.equal(small.kv, 6, 'per key: the listing, the current version and the bound version, in one round trip');
  });
});

describe('the dev host runs the timer on SWEEP_SCHEDULE', () => {
  let stack: LocalStack;
  before(async () => {
    stack = await startLocalStack({ settings: { SWEEP_SCHEDULE: '* * * * * *' } });
  });
  after(() => stack.stop());

  it('a sweep runs within a couple of seconds when the schedule says every second', async () => {
    const deadline = Date.now() + 10_000;
    let sweep = await stack.services.sweeps.latest();
    while (!sweep && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      sweep = await stack.services.sweeps.latest();
    }
    assert.equal(sweep?.trigger, 'timer');
  });
});

describe('enforce mode when Resource Graph lags behind ARM', () => {
  let stack: LocalStack;
  before(async () => {
    stack = await startLocalStack({ settings: { SWEEP_MODE: 'enforce' }, arm: { graph: { lagMs: 3_600_000 } } });
  });
  after(() => stack.stop());

  it('drift seen in a stale Resource Graph index is confirmed through ARM before a repair is queued', async () => {
    const vault = await stack.addVault({ name: 'kv-lag' });
    stack.arm.putVault(vaultResource(vault, { grantKeysTo: [principalOf('aoai-lag')] }));
    const { version: v1 } = await vault.createKey('cmk-lag', { publish: false, createdOn: new Date(Date.now() - 86_400_000) });
    const key = { vaultUri: vault.vaultUri, name: 'cmk-lag', version: v1 };
    stack.arm.putAccount(accountResource({ name: 'aoai-lag', key }));
    await stack.host.runTimer('complianceSweep');
    await stack.settle();
    // Resource Graph indexed the account on v1; a new version arrives and someone moves the account to it.
    const { version: v2 } = await vault.createKey('cmk-lag', { publish: false });
    stack.arm.putAccount(accountResource({ name: 'aoai-lag', key: { ...key, version: v2 } }));
    const patches = stack.arm.patchCount(accountArmId('aoai-lag'));
    await stack.host.runTimer('complianceSweep');
    await stack.settle();
    assert.equal(stack.arm.patchCount(accountArmId('aoai-lag')), patches, 'no PATCH for drift that ARM does not confirm');
    assert.equal((await stack.services.sweeps.latest())?.remediationsQueued, 0);
    assert.equal(stack.arm.account(accountArmId('aoai-lag')).properties.encryption.keyVaultProperties.keyVersion, v2);
  });
});
