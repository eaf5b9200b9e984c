import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startAzurite, type RunningAzurite } from '../../dev/azurite';
import { encodeJob, queueClient, StorageJobQueue } from '../../shared/adapters/queue';
import { TableBindingIndex } from '../../shared/adapters/tables/bindings';
import { TableJobKeyStore, TableLeaseStore } from '../../shared/adapters/tables/coordination';
import { TableLedger } from '../../shared/adapters/tables/ledger';
import { TableStorage } from '../../shared/adapters/tables/storage';
import type { RebindJob } from '../../shared/domain/jobs';
import type { RotationRecord } from '../../shared/domain/model';
import { accountId, fixedClock } from '../support/fakes';

describe('storage adapters against Azurite', () => {
  let azurite: RunningAzurite;
  let storage: TableStorage;
  const clock = fixedClock('2026-06-01T00:00:00Z');

  before(async () => {
    azurite = await startAzurite();
    storage = new TableStorage({ connectionString: azurite.connectionString });
  });
  after(() => azurite.stop());

  const row = (jobId: string, queuedAt: string, over: Partial<RotationRecord> = {}): RotationRecord => ({
    jobId, accountId: accountId('ledger-a'), trigger: 'event', vaultUri: 'https://kv.vault.azure.net/', keyName: 'cmk',
    status: 'queued', attempt: 0, queuedAt, ...over,
  });

  it('ledger: one row per job moved through its states, history newest first', async () => {
    const ledger = new TableLedger(storage);
    await ledger.record(row('job-old', '2026-05-01T00:00:00Z'));
    await ledger.record(row('job-new', '2026-05-02T00:00:00Z', { reason: 'attempt 1 failed' }));
    await ledger.record(row('job-new', '2026-05-02T00:00:00Z', { status: 'succeeded', toVersion: 'b'.repeat(32), attempt: 2 }));
    const history = await ledger.history(accountId('ledger-a'), 10);
    assert.deepEqual(history.map((r) => [r.jobId, r.status]), [['job-new', 'succeeded'], ['job-old', 'queued']]);
    assert.equal(history[0]?.reason, undefined, 'a later state replaces what an earlier attempt said');
    assert.equal(history[0]?.attempt, 2);
    assert.equal((await ledger.history(accountId('ledger-a'), 1)).length, 1);
    assert.deepEqual((await ledger.job('job-old')).map((r) => r.status), ['queued']);
  });

  it('leases: one holder at a time, released by ETag, taken over once expired', async () => {
    const leases = new TableLeaseStore(storage, clock);
    const id = accountId('lease-a');
    const first = await leases.acquire(id, 'job-1', 60_000);
    assert.equal(first?.holder, 'job-1');
    assert.equal(await leases.acquire(id, 'job-2', 60_000), undefined);
    assert.equal((await leases.acquire(id, 'job-1', 60_000))?.holder, 'job-1', 'the holder may renew');
    clock.set('2026-06-01T00:02:00Z');
    const taken = await leases.acquire(id, 'job-2', 60_000);
    assert.equal(taken?.holder, 'job-2');
    if (first) await leases.release(first);
    assert.equal(await leases.acquire(id, 'job-3', 60_000), undefined, "a stale release does not free job-2's lease");
    if (taken) await leases.release(taken);
    assert.equal((await leases.acquire(id, 'job-3', 60_000))?.holder, 'job-3');
    clock.set('2026-06-01T00:00:00Z');
  });

  it('leases: of two racing jobs exactly one wins', async () => {
    const leases = new TableLeaseStore(storage, clock);
    const id = accountId('lease-race');
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => leases.acquire(id, `job-${i}`, 60_000)));
    assert.equal(results.filter(Boolean).length, 1);
  });

  it('job keys: created once; a duplicate is refused, the same job retries, a release lets another try', async () => {
    const keys = new TableJobKeyStore(storage, clock);
    const id = accountId('dedupe-a');
    const racing = await Promise.all(['job-a', 'job-b', 'job-c'].map((j) => keys.claim(id, 'v2', j, 60_000)));
    assert.equal(racing.filter((r) => r === 'claimed').length, 1);
    const winner = ['job-a', 'job-b', 'job-c'][racing.indexOf('claimed')] ?? '';
    assert.equal(await keys.claim(id, 'v2', winner, 60_000), 'claimed');
    await keys.settle(id, 'v2', winner, 'done');
    assert.equal(await keys.claim(id, 'v2', 'job-late', 60_000), 'duplicate', 'a claim finished within the window is a duplicate');
    await keys.settle(id, 'v2', 'job-late', 'release');
    assert.equal(await keys.claim(id, 'v2', 'job-late-2', 60_000), 'duplicate', 'only the holder settles a claim');
    clock.set('2026-06-02T00:00:00Z');
    assert.equal(await keys.claim(id, 'v2', 'job-next-day', 60_000), 'claimed', 'a finished claim can be taken over later, so a moved-back account can be repaired');
    await keys.claim(id, 'v3', 'job-dead', 60_000);
    clock.set('2026-06-03T00:00:00Z');
    assert.equal(await keys.claim(id, 'v3', 'job-next', 60_000), 'claimed', 'a claim left in flight is taken over once stale');
    await keys.settle(id, 'v3', 'job-next', 'release');
    assert.equal(await keys.claim(id, 'v3', 'job-after', 60_000), 'claimed');
    clock.set('2026-06-01T00:00:00Z');
  });

  it('bindings: replace keeps exactly what discovery found', async () => {
    const bindings = new TableBindingIndex(storage);
    const vault = 'https://127.0.0.1:8443/';
    await bindings.replace(vault, 'cmk', [{ accountId: accountId('b1'), keyVersion: 'v1' }, { accountId: accountId('b2'), keyVersion: 'v1' }]);
    await bindings.replace(vault, 'CMK', [{ accountId: accountId('b2'), keyVersion: 'v2' }]);
    assert.deepEqual(await bindings.list(vault, 'cmk'), [{ accountId: accountId('b2'), keyVersion: 'v2' }]);
  });

  it('queue: jobs go out as base64 JSON, and a delay hides them', async () => {
    const client = queueClient({ connectionString: azurite.connectionString }, 'adapter-test');
    const queue = new StorageJobQueue(client);
    const job: RebindJob = {
      kind: 'rebind', jobId: 'job-queue-1', trigger: 'event', createdAt: '2026-06-01T00:00:00.000Z', vaultUri: 'https://kv.vault.azure.net/',
      keyName: 'cmk', accountId: accountId('q1'), force: false,
    };
    await queue.enqueue(job);
    await queue.enqueue({ ...job, jobId: 'job-queue-2' }, { delaySeconds: 60 });
    const { receivedMessageItems } = await client.receiveMessages({ numberOfMessages: 10 });
    assert.equal(receivedMessageItems.length, 1);
    assert.equal(receivedMessageItems[0]?.messageText, encodeJob(job));
    assert.deepEqual(JSON.parse(Buffer.from(receivedMessageItems[0]?.messageText ?? '', 'base64').toString('utf8')), job);
    assert.equal((await client.getProperties()).approximateMessagesCount, 2, 'the hidden message still counts as waiting');
  });
});
