import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { accountArmId, accountResource, grantKeyAccess, principalOf } from '../../dev/estate';
import { seededRandom } from '../../dev/faults';
import type { KeyVaultStandIn } from '../../dev/keyVaultStandIn';
import { startLocalStack, type LocalStack } from '../../dev/stack';
import type { WorkerProcess } from '../../dev/workerProcess';
import { versionOrder } from '../../shared/domain/keys';
import { finalStatuses, type RotationRecord } from '../../shared/domain/model';
import { postEvents } from '../support/localStack';

// The promises under the conditions real Azure creates: versions made in the same second, every event
// delivered three times, shuffled and batched, 30% faults on ARM and Key Vault, public throttling, some
// operations Failed, and one worker instance killed right after its PATCH. Seeded (CHAOS_SEED), bounded.

const SEED = Number(process.env.CHAOS_SEED ?? 20261201);
const ACCOUNTS = 50;
const VERSIONS = 5;

describe(`chaos: ${ACCOUNTS} accounts, ${VERSIONS} versions in one second, each event 3x, 30% faults, a worker killed (seed ${SEED})`, () => {
  let stack: LocalStack;
  let vault: KeyVaultStandIn;
  const random = seededRandom(SEED);
  const ids = Array.from({ length: ACCOUNTS }, (_, i) => accountArmId(`aoai-chaos-${String(i).padStart(2, '0')}`));
  const pinned = new Set(ids.slice(0, 2));
  const failing = new Set(ids.slice(2, 5));
  let v0 = '';
  const made: string[] = [];
  let killedAfterPatch = '';

  before(async () => {
    const second: { worker?: WorkerProcess } = {};
    stack = await startLocalStack({
      settings: { SWEEP_MODE: 'enforce' },
      arm: {
        random,
        // ARM's public buckets with bursts a tenth as deep and refill ten times as fast: throttling within seconds.
        throttle: { timeScale: 10, reads: { burst: 25, perSecond: 25 }, writes: { burst: 20, perSecond: 10 } },
        // The second worker dies the moment ARM accepts its first PATCH: its lease and its message are left behind.
        onAnswer: (r) => {
          const worker = second.worker;
          if (worker && !killedAfterPatch && r.method === 'PATCH' && r.status === 202 && r.userAgent.startsWith(worker.tag)) {
            killedAfterPatch = decodeURIComponent(r.path);
            worker.kill();
          }
        },
      },
    });
    // Key Vault's clock stands still, so every version below is made in the same second.
    const oneSecond = new Date(Math.floor(Date.now() / 1000) * 1000);
    vault = await stack.addVault({ name: 'kv-chaos', now: () => oneSecond, random });
    v0 = (await vault.createKey('cmk', { createdOn: new Date(oneSecond.getTime() - 86_400_000), publish: false })).version;
    for (let i = 0; i < VERSIONS; i++) made.push((await vault.createKey('cmk', { publish: false })).version);
    for (const id of ids) stack.arm.putAccount(accountResource({ name: id.split('/').pop() ?? '', key: { vaultUri: vault.vaultUri, name: 'cmk', version: v0 } }));
    grantKeyAccess(stack.arm, vault, ids.map((id) => principalOf(id.split('/').pop() ?? '')));
    for (const id of pinned) await stack.services.pins.set({ accountId: id, keyVersion: v0, actor: 'alice@contoso.com', reason: 'rollback under test', pinnedAt: oneSecond.toISOString(), jobId: 'chaos-pin' });
    for (const id of failing) stack.arm.failLro(id, { code: 'KeyVaultAccessForbidden', message: 'The identity cannot unwrap the key.' });
    second.worker = await stack.spawnWorker('cmk-worker-b');

    const mix = [
      { status: 429, retryAfterMs: 20, share: 0.08 },
      { status: 429, share: 0.07 },
      { status: 503, share: 0.05 },
      { status: 500, share: 0.05 },
      { reset: true, share: 0.05 },
    ];
    // Each rule takes its share of what the rules before it let through, so the total is 30%.
    let left = 1;
    for (const { share, ...fault } of mix) {
      const rule = { ...fault, probability: share / left, times: Infinity };
      stack.arm.fail(rule);
      vault.fail(rule);
      left -= share;
    }
  });
  after(() => stack?.stop());

  it('ends with every account on the newest version (or its pin), no downgrade, and a ledger that tells the truth', { timeout: 90_000 }, async (t) => {
    const events = made.map((version) => eventGridEvent(vault, version));
    const deliveries = events.flatMap((e) => [e, e, e]).sort(() => random() - 0.5);
    while (deliveries.length) {
      const batch = deliveries.splice(0, 1 + Math.floor(random() * 4));
      // Event Grid re-sends a batch that was not answered 2xx.
      for (let tries = 0; (await postEvents(stack, batch)).status !== 202; tries++) assert.ok(tries < 10, 'the webhook keeps failing');
    }
    await stack.settle(60_000);
    // The system's own convergence: enforce sweeps repair what the events left (the accounts whose operation failed).
    for (let sweep = 0; sweep < 5; sweep++) {
      const summary = await sweepEnforce(stack);
      await stack.settle(60_000);
      if (summary?.status === 'completed' && summary.remediationsQueued === 0) break;
    }

    const current = made.at(-1) ?? '';
    const order = versionOrder(current);
    const stamp = (version: string) => ({ version, createdOn: version === v0 ? new Date(0) : new Date(1) });
    // Every account on the newest usable version, or on its pin.
    // Read from the stand-in itself: the faults are for the service, not for the test's own view.
    const wrong = ids
      .map((id) => ({ id, properties: stack.arm.account(id)?.properties }))
      .filter(({ id, properties }) => properties?.encryption?.keyVaultProperties?.keyVersion !== (pinned.has(id) ? v0 : current) || properties?.provisioningState !== 'Succeeded');
    assert.deepEqual(wrong.map(({ id, properties }) => `${id.split('/').pop()}: ${properties?.encryption?.keyVaultProperties?.keyVersion} ${properties?.provisioningState}`), []);

    // No downgrade in ARM's PATCH history: each accepted PATCH asks for a version known to be newer than the
    // one the account was on when ARM accepted it (the last update that had taken effect by then).
    const downgrades: string[] = [];
    for (const id of ids) {
      const mine = <T extends { accountId: string }>(list: readonly T[]) => list.filter((x) => x.accountId.toLowerCase() === id.toLowerCase());
      for (const p of mine(stack.arm.patches).filter((p) => p.status === 202)) {
        const bound = mine(stack.arm.applied).filter((a) => a.at < p.at).at(-1)?.keyVersion ?? v0;
        const age = order.compare(stamp(p.keyVersion ?? ''), stamp(bound));
        if (age === undefined || age <= 0) {
          const v = (version: string | undefined) => `v${made.indexOf(version ?? '')}`;
          downgrades.push(`${id.split('/').pop()}: PATCH to ${v(p.keyVersion)} at ${p.at} while on ${v(bound)}; applied ${mine(stack.arm.applied).map((a) => `${v(a.keyVersion)}@${a.at}`).join(' ')}`);
        }
      }
    }
    assert.deepEqual(downgrades, []);

    // Every row terminal; succeeded iff that job's update took effect, failed iff it did not.
    const rows = (await stack.services.ledger.all()).filter((r) => ids.some((id) => id.toLowerCase() === r.accountId.toLowerCase()));
    assert.deepEqual(rows.filter((r) => !finalStatuses.has(r.status)).map((r) => `${r.jobId}: ${r.status} ${r.reason}`), []);
    const took = (r: RotationRecord) => stack.arm.applied.some((a) => a.accountId.toLowerCase() === r.accountId.toLowerCase() && a.keyVersion === r.toVersion
      && (!r.intentAt || a.at >= r.intentAt) && (!r.finishedAt || a.at <= r.finishedAt));
    assert.deepEqual(rows.filter((r) => r.status === 'succeeded' && !took(r)).map((r) => r.jobId), [], 'succeeded, but the update never took effect');
    assert.deepEqual(rows.filter((r) => r.status === 'failed' && took(r)).map((r) => r.jobId), [], 'failed, but the account moved');
    assert.ok(rows.filter((r) => r.status === 'failed').every((r) => failing.has(accountArmId(r.accountId.split('/').pop() ?? ''))), 'only the failed operations fail');
    assert.ok(killedAfterPatch, 'the second worker was killed after a PATCH');
    const killedRow = rows.find((r) => r.accountId.toLowerCase() === killedAfterPatch.toLowerCase() && r.intentAt && r.status === 'succeeded');
    assert.ok(killedRow, 'the killed worker\'s job was finished by another attempt');

    const byStatus = Object.fromEntries([...new Set(rows.map((r) => r.status))].map((s) => [s, rows.filter((r) => r.status === s).length]));
    const faults = (hits: ReadonlyMap<string, number>) => Object.fromEntries(hits);
    t.diagnostic(`seed ${SEED}: ${ACCOUNTS} accounts (${pinned.size} pinned, ${failing.size} with a Failed operation), ${VERSIONS} versions in one second, ${made.length * 3} deliveries`);
    t.diagnostic(`faults injected: ARM ${JSON.stringify(faults(stack.arm.faultHits))}, Key Vault ${JSON.stringify(faults(vault.faultHits))}; ARM 429s from throttling ${stack.arm.requests.filter((r) => r.status === 429).length - (stack.arm.faultHits.get('429') ?? 0)}`);
    t.diagnostic(`PATCHes sent ${stack.arm.patches.length}, accepted ${stack.arm.patches.filter((p) => p.status === 202).length}, applied ${stack.arm.applied.length}, downgrades ${downgrades.length}; worker killed after its PATCH of ${killedAfterPatch.split('/').pop()}`);
    t.diagnostic(`ledger rows by status ${JSON.stringify(byStatus)}`);
  });
});

/** The KeyNewVersionCreated event the vault's system topic would send for a version (Event Grid schema). */
function eventGridEvent(vault: KeyVaultStandIn, version: string): Record<string, unknown> {
  return {
    id: `chaos-${version}`,
    topic: vault.armId,
    subject: 'cmk',
    eventType: 'Microsoft.KeyVault.KeyNewVersionCreated',
    eventTime: new Date().toISOString(),
    data: { Id: `${vault.vaultUri}keys/cmk/${version}`, VaultName: vault.name, ObjectType: 'Key', ObjectName: 'cmk', Version: version, NBF: null, EXP: null },
    dataVersion: '1',
    metadataVersion: '1',
  };
}

async function sweepEnforce(stack: LocalStack) {
  await stack.host.runTimer('complianceSweep');
  return stack.services.sweeps.latest();
}
