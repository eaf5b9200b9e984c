import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startAzurite, type RunningAzurite } from '../../dev/azurite';
import { accountKey } from '../../shared/domain/accounts';
import { TableFindingStore } from '../../shared/adapters/tables/findings';
import { TableSweepStore } from '../../shared/adapters/tables/sweeps';
import { TABLES, TableStorage } from '../../shared/adapters/tables/storage';
import { FINDING_RULES, type Finding, type FindingCode, type SweepSummary } from '../../shared/domain/findings';
import { findingDigest } from '../../shared/domain/verdicts';
import type { StoredVerdicts } from '../../shared/ports';
import { SWEEP_LOCK_MS } from '../../shared/usecases/sweepOnce';
import { accountId, fixedClock } from '../support/fakes';
import { losingAnswers, storageWith } from '../support/lossyStorage';

const finding = (code: FindingCode, evidence: Finding['evidence'] = {}): Finding => ({
  code, severity: FINDING_RULES[code].severity, evidence, remedy: `fix ${code}`,
});

describe('Findings and Sweeps tables against Azurite', () => {
  let azurite: RunningAzurite;
  let findings: TableFindingStore;
  /** Every page of verdicts() in one map. */
  const everyVerdict = async (): Promise<StoredVerdicts> => {
    const all: StoredVerdicts = new Map();
    for await (const page of findings.verdicts()) for (const [key, codes] of page) all.set(key, new Map([...(all.get(key) ?? []), ...codes]));
    return all;
  };
  let sweeps: TableSweepStore;
  let latestBeforeAnySweep: SweepSummary | undefined;
  let storage: TableStorage;

  before(async () => {
    azurite = await startAzurite();
    storage = new TableStorage({ connectionString: azurite.connectionString });
    findings = new TableFindingStore(storage);
    sweeps = new TableSweepStore(storage);
    // Read before any test writes, so the empty case does not depend on test order.
    latestBeforeAnySweep = await sweeps.latest();
  });
  after(() => azurite.stop());

  it('replaceForAccount keeps exactly the new set: stale codes go, kept codes take the new sweep', async () => {
    const a = accountId('replace-a');
    const neighbour = accountId('replace-b');
    await findings.replaceForAccount(neighbour, [finding('version-drift')], 'sweep-1', '2026-06-01T00:00:00.000Z');
    await findings.replaceForAccount(a, [finding('version-drift'), finding('key-near-expiry', { expiresOn: 'x' }), finding('access-unverifiable')],
      'sweep-1', '2026-06-01T00:00:00.000Z');
    await findings.replaceForAccount(a, [finding('key-near-expiry', { expiresOn: 'y' }), finding('key-disabled')], 'sweep-2', '2026-06-02T00:00:00.000Z');

    const rows = await findings.list({ accountId: a });
    assert.deepEqual(rows.map((r) => r.code), ['key-disabled', 'key-near-expiry'], 'critical first; drift and unverifiable removed');
    assert.deepEqual(rows.map((r) => r.sweepId), ['sweep-2', 'sweep-2']);
    assert.equal(rows[1]?.observedAt, '2026-06-02T00:00:00.000Z');
    assert.deepEqual(rows[1]?.evidence, { expiresOn: 'y' });
    assert.equal(rows[0]?.accountId, a);
    assert.deepEqual((await findings.list({ accountId: neighbour })).map((r) => r.code), ['version-drift'], 'other accounts untouched');

    await findings.replaceForAccount(a, [], 'sweep-3', '2026-06-03T00:00:00.000Z');
    assert.deepEqual(await findings.list({ accountId: a }), [], 'a healthy account has no rows left');
  });

  it('list filters by severity, and by severity and account together', async () => {
    const x = accountId('severity-x');
    const y = accountId('severity-y');
    await findings.replaceForAccount(x, [finding('access-missing'), finding('region-mismatch')], 's', '2026-06-01T00:00:00.000Z');
    await findings.replaceForAccount(y, [finding('identity-missing'), finding('pinned')], 's', '2026-06-01T00:00:00.000Z');
    const critical = (await findings.list({ severity: 'critical' })).filter((r) => r.accountId === x || r.accountId === y);
    assert.deepEqual(critical.map((r) => [r.accountId, r.code]), [[x, 'access-missing'], [y, 'identity-missing']]);
    assert.ok((await findings.list({ severity: 'critical' })).every((r) => r.severity === 'critical'));
    assert.deepEqual((await findings.list({ severity: 'info', accountId: y })).map((r) => r.code), ['pinned']);
    assert.deepEqual(await findings.list({ severity: 'info', accountId: x }), []);
  });

  it('evidence round-trips as an object (strings, numbers, booleans, null, quotes)', async () => {
    const evidence = { vaultUri: "https://kv.vault.azure.net/it's", keySize: 4096, enabled: false, expiresOn: null, missing: 'get,unwrapKey' };
    const id = accountId('evidence-a');
    await findings.replaceForAccount(id, [finding('unsupported-key', evidence)], 'sweep-e', '2026-06-01T00:00:00.000Z');
    const [row] = await findings.list({ accountId: id });
    assert.deepEqual(row, {
      accountId: id, code: 'unsupported-key', severity: 'warning', evidence, remedy: 'fix unsupported-key', sweepId: 'sweep-e', observedAt: '2026-06-01T00:00:00.000Z',
    });
  });

  it('verdicts() reads every stored digest; an unchanged verdict is not rewritten, a changed one is', async () => {
    const id = accountId('digest-a');
    assert.equal(await findings.replaceForAccount(id, [finding('version-drift'), finding('key-near-expiry', { expiresOn: 'x' })], 'sweep-1', '2026-06-01T00:00:00.000Z'), true);
    const stored = (await everyVerdict()).get(accountKey(id));
    assert.deepEqual([...(stored?.keys() ?? [])].sort(), ['key-near-expiry', 'version-drift']);
    assert.equal(await findings.replaceForAccount(id, [finding('version-drift'), finding('key-near-expiry', { expiresOn: 'x' })], 'sweep-2', '2026-06-02T00:00:00.000Z', stored), false);
    assert.deepEqual((await findings.list({ accountId: id })).map((f) => f.sweepId), ['sweep-1', 'sweep-1'], 'kept as first recorded');
    assert.equal(await findings.replaceForAccount(id, [finding('key-near-expiry', { expiresOn: 'y' })], 'sweep-3', '2026-06-03T00:00:00.000Z', stored), true);
    assert.deepEqual((await findings.list({ accountId: id })).map((f) => [f.code, f.sweepId, f.evidence['expiresOn']]), [['key-near-expiry', 'sweep-3', 'y']]);
  });

  it('verdicts() answers in account key order, page by page, as a sweep reads it beside discovery', async () => {
    const ids = ['order-c', 'order-a', 'order-d', 'order-b'].map((name) => accountId(name));
    for (const id of ids) await findings.replaceForAccount(id, [finding('version-drift'), finding('vault-unreadable')], 's', '2026-06-01T00:00:00.000Z');
    const keys: string[] = [];
    for await (const page of findings.verdicts()) keys.push(...page.keys());
    const mine = keys.filter((k) => ids.some((id) => accountKey(id) === k));
    assert.deepEqual(mine, ids.map(accountKey).sort(), 'ascending, each account once');
    assert.deepEqual(keys, [...keys].sort(), 'the whole table in order');
    assert.deepEqual((await everyVerdict()).get(accountKey(ids[0] ?? '')), new Map([['vault-unreadable', findingDigest(finding('vault-unreadable'))], ['version-drift', findingDigest(finding('version-drift'))]]));
  });

  it('removeVerdicts deletes the rows it is given, one account at a time, and counts accounts', async () => {
    const kept = accountId('remove-kept');
    const gone = [accountId('remove-gone-1'), accountId('remove-gone-2')];
    for (const id of [kept, ...gone]) {
      await findings.replaceForAccount(id, [finding('version-drift'), finding('vault-unreadable')], 's', '2026-06-01T00:00:00.000Z');
    }
    const stored = await everyVerdict();
    const stale = new Map(gone.map((id) => [accountKey(id), stored.get(accountKey(id)) ?? new Map()]));
    assert.equal(await findings.removeVerdicts(stale), 2);
    const left = new Set((await findings.list()).map((r) => r.accountId));
    assert.ok(left.has(kept));
    assert.ok(gone.every((id) => !left.has(id)));
    assert.equal(await findings.removeVerdicts(stale), 2, 'rows already gone are no error');
  });

  it('removeVerdicts deletes an account with more stale rows than one transaction holds (a finding per scope)', async () => {
    const gone = accountId('remove-many-scopes');
    const perScope = Array.from({ length: 120 }, (_, i): Finding => ({ ...finding('version-drift'), encryptionScope: `scope-${i}` }));
    await findings.replaceForAccount(gone, perScope, 's', '2026-06-01T00:00:00.000Z');
    const stored = (await everyVerdict()).get(accountKey(gone)) ?? new Map<string, string>();
    assert.equal(stored.size, 120);
    assert.equal(await findings.removeVerdicts(new Map([[accountKey(gone), stored]])), 1);
    assert.deepEqual(await findings.list({ accountId: gone }), []);
  });

  it("upsert records an event's findings for more scopes than one transaction holds", async () => {
    const id = accountId('upsert-many-scopes');
    const perScope = Array.from({ length: 120 }, (_, i): Finding => ({ ...finding('key-near-expiry'), encryptionScope: `scope-${i}` }));
    await findings.upsert(id, perScope, 'event-1', '2026-06-01T00:00:00.000Z');
    assert.equal((await findings.list({ accountId: id })).length, 120);
  });

  it("sweeps: a queued sweep's lock is taken again by its own message, not by another message of the same sweep", async () => {
    const locks = new TableSweepStore(storage, fixedClock());
    assert.deepEqual(await locks.lock('sweep-q1', SWEEP_LOCK_MS), { held: false }, 'the request that queues it');
    assert.deepEqual(await locks.lock('sweep-q1', SWEEP_LOCK_MS, 'message-1'), { held: false }, 'its message starts it');
    assert.deepEqual(await locks.lock('sweep-q1', SWEEP_LOCK_MS, 'message-2'), { held: true, sweepId: 'sweep-q1' }, 'a second message of it');
    assert.deepEqual(await locks.lock('sweep-q1', SWEEP_LOCK_MS, 'message-1'), { held: false }, 'its own message delivered again');
    assert.deepEqual(await locks.lock('sweep-q2', SWEEP_LOCK_MS), { held: true, sweepId: 'sweep-q1' });
    await locks.unlock('sweep-q1', 'message-1', true);
    assert.equal(await locks.renew('sweep-q1', SWEEP_LOCK_MS, 'message-1'), false, 'a lock marked done is not renewed');
    assert.deepEqual(await locks.lock('sweep-q1', SWEEP_LOCK_MS, 'message-2'), { held: true, sweepId: 'sweep-q1' }, 'a second message after the run ended finds it done');
    assert.deepEqual(await locks.lock('sweep-q2', SWEEP_LOCK_MS), { held: false }, 'any other sweep takes the lock');
    await locks.unlock('sweep-q2');
  });

  it("sweeps: a queued sweep's unlock leaves a lock its message has taken: a request whose send failed late cannot free a running sweep", async () => {
    const locks = new TableSweepStore(storage, fixedClock());
    assert.deepEqual(await locks.lock('sweep-r1', SWEEP_LOCK_MS), { held: false }, 'POST takes the lock, then its send fails late');
    assert.deepEqual(await locks.lock('sweep-r1', SWEEP_LOCK_MS, 'message-1'), { held: false }, 'the message did arrive: its run starts');
    await locks.unlock('sweep-r1');
    assert.deepEqual(await locks.lock('sweep-r2', SWEEP_LOCK_MS), { held: true, sweepId: 'sweep-r1' }, 'the request that failed did not free it');
    await locks.unlock('sweep-r1', 'message-1');
    assert.deepEqual(await locks.lock('sweep-r2', SWEEP_LOCK_MS), { held: false }, 'the run that holds it does');
    await locks.unlock('sweep-r2');
  });

  it("sweeps: a lock expires its life after it was taken or last renewed; its holder's renewal after another sweep took it answers false", async () => {
    const clock = fixedClock();
    const locks = new TableSweepStore(storage, clock);
    assert.deepEqual(await locks.lock('sweep-e1', SWEEP_LOCK_MS), { held: false });
    clock.advance(SWEEP_LOCK_MS - 1000);
    assert.equal(await locks.renew('sweep-e1', SWEEP_LOCK_MS), true);
    assert.equal(await locks.renew('sweep-e1', SWEEP_LOCK_MS, 'message-1'), false, 'not renewed as another runner took it');
    clock.advance(SWEEP_LOCK_MS);
    assert.deepEqual(await locks.lock('sweep-e2', SWEEP_LOCK_MS), { held: true, sweepId: 'sweep-e1' }, 'past its first life, within the renewed one');
    clock.advance(1001);
    assert.deepEqual(await locks.lock('sweep-e2', SWEEP_LOCK_MS), { held: false }, 'taken over once expired');
    assert.equal(await locks.renew('sweep-e1', SWEEP_LOCK_MS), false, 'the old holder learns it lost the lock');
    assert.equal(await locks.renew('sweep-e2', SWEEP_LOCK_MS), true);
    await locks.unlock('sweep-e2');
    assert.equal(await locks.renew('sweep-e2', SWEEP_LOCK_MS), false, 'released: nothing to renew');

    // A lock row as written before locks had an expiry holds for an hour from when it was taken.
    const table = await storage.table(TABLES.sweeps);
    await table.upsertEntity({ partitionKey: 'lock', rowKey: 'sweep', sweepId: 'sweep-undated', lockedAt: clock.now().toISOString() }, 'Replace');
    clock.advance(60 * 60_000);
    assert.deepEqual(await locks.lock('sweep-e3', SWEEP_LOCK_MS), { held: true, sweepId: 'sweep-undated' });
    clock.advance(1);
    assert.deepEqual(await locks.lock('sweep-e3', SWEEP_LOCK_MS), { held: false });
    await locks.unlock('sweep-e3');
  });

  it('writes whose answers were lost, sent again by the SDK, are not failures: a verdict replaced, a lock renewed and released', async () => {
    const lossy = losingAnswers(azurite.connectionString);
    const store = new TableFindingStore(lossy.storage);
    const id = accountId('lost-answer-a');
    await store.replaceForAccount(id, [finding('version-drift'), finding('key-near-expiry', { expiresOn: 'x' })], 'sweep-1', '2026-06-01T00:00:00.000Z');
    // The account was rebound: both rows go, in one transaction whose answer is lost (sent again, its deletes find nothing).
    lossy.lose(1);
    assert.equal(await store.replaceForAccount(id, [finding('key-disabled')], 'sweep-2', '2026-06-02T00:00:00.000Z'), true);
    assert.deepEqual((await store.list({ accountId: id })).map((r) => [r.code, r.sweepId]), [['key-disabled', 'sweep-2']]);

    const clock = fixedClock();
    const locks = new TableSweepStore(lossy.storage, clock);
    assert.deepEqual(await locks.lock('sweep-lost', SWEEP_LOCK_MS), { held: false });
    clock.advance(SWEEP_LOCK_MS - 1000);
    lossy.lose(1);
    assert.equal(await locks.renew('sweep-lost', SWEEP_LOCK_MS), true, 'a renewal whose answer was lost renewed it');
    clock.advance(2000);
    assert.deepEqual(await locks.lock('sweep-other', SWEEP_LOCK_MS), { held: true, sweepId: 'sweep-lost' }, 'past its first expiry');
    lossy.lose(1);
    await locks.unlock('sweep-lost');
    assert.deepEqual(await locks.lock('sweep-next', SWEEP_LOCK_MS), { held: false }, 'the lock is gone');
    await locks.unlock('sweep-next');
  });

  it('sweeps: one row per run moved through its states; latest is the newest start', async () => {
    assert.equal(latestBeforeAnySweep, undefined, 'no sweep yet');
    const running: SweepSummary = {
      sweepId: 'sweep-b', trigger: 'timer', mode: 'report', status: 'running', startedAt: '2026-06-01T06:00:00.000Z',
      accountsSeen: 0, keysRead: 0, findingsByCode: {}, findingsBySeverity: {}, remediationsQueued: 0, errors: [],
    };
    // Its run holds the lock, as a running sweep does (see the test of a run that lost it).
    assert.deepEqual(await sweeps.lock('sweep-b', SWEEP_LOCK_MS), { held: false });
    await sweeps.record(running);
    assert.deepEqual(await sweeps.latest(), running);
    const done: SweepSummary = {
      ...running, status: 'partial', finishedAt: '2026-06-01T06:01:30.000Z', durationMs: 90_000, accountsSeen: 12, keysRead: 3,
      findingsByCode: { 'version-drift': 4, 'key-near-expiry': 1 }, findingsBySeverity: { critical: 0, warning: 5, info: 0 },
      remediationsQueued: 4, errors: ['listing accounts in subscription s2: 503'],
    };
    await sweeps.record(done);
    assert.deepEqual(await sweeps.latest(), done, 'the completed row replaced the running one');
    await sweeps.record({ ...running, sweepId: 'sweep-a', startedAt: '2026-06-01T00:00:00.000Z', trigger: 'manual', mode: 'enforce' });
    assert.equal((await sweeps.latest())?.sweepId, 'sweep-b', 'an older start written later is not the latest');
    await sweeps.record({ ...running, sweepId: 'sweep-c', startedAt: '2026-06-01T12:00:00.000Z' });
    assert.equal((await sweeps.latest())?.sweepId, 'sweep-c', 'the newest start wins');
    await sweeps.unlock('sweep-b');
  });

  it('sweeps: a long error list is cut to fit one column and says how many were left out', async () => {
    const errors = Array.from({ length: 500 }, (_, i) => `account ${i}: ${'x'.repeat(200)}`);
    await sweeps.record({
      sweepId: 'sweep-errors', trigger: 'timer', mode: 'report', status: 'failed', startedAt: '2030-01-01T00:00:00.000Z',
      accountsSeen: 500, keysRead: 0, findingsByCode: {}, findingsBySeverity: {}, remediationsQueued: 0, errors,
    });
    const stored = (await sweeps.latest())?.errors ?? [];
    assert.ok(stored.length > 10 && stored.length < 500, `kept ${stored.length}`);
    assert.deepEqual(stored.slice(0, -1), errors.slice(0, stored.length - 1));
    assert.equal(stored.at(-1), `... and ${500 - (stored.length - 1)} more`);
  });

  it('sweeps: one lock; a second sweep is refused with the holder\'s id until it unlocks or its lock goes stale', async () => {
    const clock = fixedClock();
    const locks = new TableSweepStore(storage, clock);
    assert.deepEqual(await locks.lock('sweep-l1', SWEEP_LOCK_MS), { held: false });
    assert.deepEqual(await locks.lock('sweep-l2', SWEEP_LOCK_MS), { held: true, sweepId: 'sweep-l1' });
    await locks.unlock('sweep-l2');
    clock.advance(SWEEP_LOCK_MS);
    assert.deepEqual(await locks.lock('sweep-l2', SWEEP_LOCK_MS), { held: true, sweepId: 'sweep-l1' }, 'another sweep\'s unlock leaves it, and an hour is not yet stale');
    clock.advance(1000);
    assert.deepEqual(await locks.lock('sweep-l2', SWEEP_LOCK_MS), { held: false }, 'taken over once stale');
    await locks.unlock('sweep-l2');
    assert.deepEqual(await locks.lock('sweep-l3', SWEEP_LOCK_MS), { held: false });
    await locks.unlock('sweep-l3');
  });
  // These two rows start in 2040, after every other test's: each is the latest when it is read.
  it('sweeps: a running row whose run no longer holds the lock is served failed, saying why; the row is kept, and its end replaces it', async () => {
    const clock = fixedClock();
    const store = new TableSweepStore(storage, clock);
    const running = runningRow('sweep-dead', '2040-01-01T00:00:00.000Z');
    assert.deepEqual(await store.lock('sweep-dead', SWEEP_LOCK_MS), { held: false });
    await store.record(running);
    clock.advance(SWEEP_LOCK_MS);
    assert.deepEqual(await store.latest(), running, 'running while its lock is its own, to the lock\'s last moment');
    clock.advance(1000);
    const lapsed = await store.latest();
    assert.deepEqual([lapsed?.sweepId, lapsed?.status], ['sweep-dead', 'failed']);
    assert.deepEqual(lapsed?.errors, [`no end recorded: the run stopped, or lost Table Storage, before recording one (its lock lapsed at ${new Date(Date.parse('2026-06-01T00:00:00Z') + SWEEP_LOCK_MS).toISOString()} without renewal)`]);
    assert.deepEqual(await store.lock('sweep-queued', SWEEP_LOCK_MS), { held: false }, 'a request takes the lapsed lock for the sweep it queues');
    assert.match((await store.latest())?.errors.at(-1) ?? '', /\(sweep sweep-queued holds the lock\)$/);
    await store.unlock('sweep-queued');
    assert.match((await store.latest())?.errors.at(-1) ?? '', /\(it no longer holds the lock\)$/);
    const done: SweepSummary = { ...running, status: 'completed', finishedAt: '2040-01-01T00:20:00.000Z', durationMs: 1_200_000 };
    await store.record(done);
    assert.deepEqual(await store.latest(), done, 'a run still going when it lost the lock writes its end over the row');
  });

  /**
   * Table Storage that runs `between` once, as the lock is read for latest(): before the read is sent, or once its
   * answer is in (`fail`: the read fails instead, its connection reset).
   */
  function aroundTheLockRead(when: 'before' | 'after' | 'fail', between: () => Promise<void> = async () => undefined) {
    let pending: (() => Promise<void>) | undefined = between;
    const racing = storageWith(azurite.connectionString, 'around-the-lock-read', async (request, next) => {
      const run = pending;
      if (!run || request.method !== 'GET' || !request.url.includes("PartitionKey='lock'")) return next(request);
      pending = undefined;
      if (when === 'fail') throw Object.assign(new Error('socket hang up'), { name: 'RestError', code: 'ECONNRESET', request });
      if (when === 'before') await run();
      const response = await next(request);
      if (when === 'after') await run();
      return response;
    });
    return { racing, ran: () => pending === undefined };
  }
  const runningRow = (sweepId: string, startedAt: string): SweepSummary => ({
    sweepId, trigger: 'timer', mode: 'report', status: 'running', startedAt,
    accountsSeen: 0, keysRead: 0, findingsByCode: {}, findingsBySeverity: {}, remediationsQueued: 0, errors: [],
  });

  it('sweeps: a run that records its end and releases the lock between the reads of the latest row is served as it ended', async () => {
    const running = runningRow('sweep-racing', '2040-02-01T00:00:00.000Z');
    assert.deepEqual(await sweeps.lock('sweep-racing', SWEEP_LOCK_MS), { held: false });
    await sweeps.record(running);
    const done: SweepSummary = { ...running, status: 'completed', finishedAt: '2040-02-01T00:01:00.000Z', durationMs: 60_000 };
    const { racing, ran } = aroundTheLockRead('before', async () => {
      await sweeps.record(done);
      await sweeps.unlock('sweep-racing');
    });
    assert.deepEqual(await new TableSweepStore(racing).latest(), done);
    assert.ok(ran(), 'the run ended between the reads');
  });

  it("sweeps: a queued sweep's message delivered again after its lock lapsed, starting between the reads, is served running", async () => {
    const clock = fixedClock();
    const store = new TableSweepStore(storage, clock);
    assert.deepEqual(await store.lock('sweep-redelivered', SWEEP_LOCK_MS, 'message-1'), { held: false });
    await store.record(runningRow('sweep-redelivered', '2040-03-01T00:00:00.000Z'));
    clock.advance(SWEEP_LOCK_MS + 1000);
    const again = runningRow('sweep-redelivered', '2040-03-01T00:16:00.000Z');
    const { racing, ran } = aroundTheLockRead('after', async () => {
      assert.deepEqual(await store.lock('sweep-redelivered', SWEEP_LOCK_MS, 'message-1'), { held: false });
      await store.record(again);
    });
    assert.deepEqual(await new TableSweepStore(racing, clock).latest(), again, 'the newer row of the same sweep, which runs');
    assert.ok(ran(), 'the delivery started between the reads');
    await store.unlock('sweep-redelivered', 'message-1');
  });

  it('sweeps: a lock that cannot be read leaves the running row as stored', async () => {
    const clock = fixedClock();
    const store = new TableSweepStore(storage, clock);
    const running = runningRow('sweep-unread', '2040-04-01T00:00:00.000Z');
    await store.record(running);
    const { racing, ran } = aroundTheLockRead('fail');
    assert.deepEqual(await new TableSweepStore(racing, clock).latest(), running);
    assert.ok(ran(), 'the lock read failed');
    assert.equal((await store.latest())?.status, 'failed', 'read, the absent lock serves it failed');
  });
});
