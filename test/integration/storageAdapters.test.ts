import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startAzurite, type RunningAzurite } from '../../dev/azurite';
import { encodeJob, queueClient, StorageJobQueue } from '../../shared/adapters/queue';
import { TableLedger } from '../../shared/adapters/tables/ledger';
import { TablePinStore } from '../../shared/adapters/tables/pins';
import { JobPin } from '../../shared/usecases/jobPin';
import { TableRotationClaims } from '../../shared/adapters/tables/rotationClaims';
import { TableStorage } from '../../shared/adapters/tables/storage';
import { validate } from '../../shared/http/problem';
import { httpSchemas } from '../../shared/http/schemas';
import type { RebindJob } from '../../shared/domain/jobs';
import type { RotationRecord } from '../../shared/domain/model';
import { accountId, fixedClock } from '../support/fakes';
import { losingAnswers, storageWith } from '../support/lossyStorage';

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

  it('ledger: a queued job is one index row until the job writes its own; later writes merge, so an intent is never erased', async () => {
    const ledger = new TableLedger(storage, clock);
    await ledger.recordQueued([row('job-old', '2026-05-01T00:00:00Z', { fromVersion: 'a'.repeat(32) })]);
    const ref = { queuedAt: '2026-05-02T00:00:00Z', jobId: 'job-new' };
    const first = await ledger.open(accountId('ledger-a'), ref);
    assert.equal(await ledger.record(row('job-new', ref.queuedAt, { status: 'running', intentAt: '2026-05-02T00:00:01.000Z', intentAttempt: 1, toVersion: 'b'.repeat(32) }), first), true);
    // The fan-out's queued record arriving after the worker started must not turn the job back to queued.
    await ledger.recordQueued([row('job-new', ref.queuedAt)]);
    // A duplicate delivery that read the journal before that write writes nothing over it.
    assert.equal(await ledger.record(row('job-new', ref.queuedAt, { status: 'already-current', attempt: 1 }), first), false);
    const second = await ledger.open(accountId('ledger-a'), ref);
    assert.equal(await ledger.record(row('job-new', ref.queuedAt, { status: 'succeeded', attempt: 2, reason: 'verified: the account reports key version v2 and Succeeded, after the update sent on attempt 1' }), second), true);
    assert.equal(await ledger.record(row('job-new', ref.queuedAt, { status: 'failed', attempt: 2 }), second), false, 'a write over a row changed since it was read is refused');
    const history = await ledger.history(accountId('ledger-a'), 10);
    assert.deepEqual(history.map((r) => [r.jobId, r.status]), [['job-new', 'succeeded']], "the account's history holds what ran on it");
    assert.deepEqual([history[0]?.intentAt, history[0]?.intentAttempt, history[0]?.toVersion, history[0]?.attempt], ['2026-05-02T00:00:01.000Z', 1, 'b'.repeat(32), 2]);
    assert.deepEqual((await ledger.job('job-new')).map((r) => r.status), ['succeeded']);
    const [queued] = await ledger.job('job-old');
    assert.deepEqual([queued?.status, queued?.fromVersion, queued?.accountId], ['queued', 'a'.repeat(32), accountId('ledger-a')]);
    assert.equal(Object.keys(queued ?? {}).some((k) => k.startsWith('odata') || k === 'rotationRowKey'), false, 'no storage metadata in rows');
    assert.equal((await ledger.history(accountId('ledger-a'), 1)).length, 1);
  });

  it("ledger: a history page's continuation token reads on in that account's history only; another account's query refuses it", async () => {
    const ledger = new TableLedger(storage, clock);
    const [early, late] = [accountId('paging-a'), accountId('paging-z')];
    for (const id of [early, late]) {
      for (let i = 1; i <= 3; i++) await ledger.record(row(`job-${id.slice(-1)}${i}`, `2026-05-0${i}T00:00:00Z`, { accountId: id }));
    }
    const schema = httpSchemas().historyQuery;
    for (const [mine, other] of [[early, late], [late, early]] as const) {
      const first = await ledger.historyPage(mine, 2);
      assert.ok(first.continuationToken);
      const query = (accountId: string) => validate(schema, { accountId, limit: '2', continuationToken: first.continuationToken });
      const own = query(mine);
      assert.ok(own.ok, JSON.stringify(own));
      const next = await ledger.historyPage(mine, own.value.limit, own.value.continuationToken);
      assert.deepEqual([...first.rows, ...next.rows].map((r) => r.queuedAt), ['2026-05-03T00:00:00Z', '2026-05-02T00:00:00Z', '2026-05-01T00:00:00Z']);
      assert.equal(next.continuationToken, undefined);
      // Read on in another partition, the token would start that history over or end it at once, with no rows and no error.
      const foreign = query(other);
      assert.equal(foreign.ok, false, `a token of ${mine} taken for ${other}`);
      if (!foreign.ok) assert.deepEqual(foreign.problem.errors?.map((e) => e.field), ['continuationToken']);
    }
  });

  it('journal: the lease and the intent in one transaction, guarded by the ETag the job read', async () => {
    const journal = new TableLedger(storage, clock);
    const id = accountId('journal-a');
    const intent = { ...row('job-j1', '2026-06-01T00:00:00Z'), accountId: id, status: 'running' as const, intentAt: '2026-06-01T00:00:00.000Z' };
    const opened = await journal.open(id, intent);
    assert.equal(opened.lease, undefined);
    const lease = await journal.begin(opened, 'job-j1:a', 60_000, intent);
    assert.ok(lease);
    assert.equal((await journal.begin(opened, 'job-j2:b', 60_000, { ...intent, jobId: 'job-j2' })), undefined, 'the lease as read is gone');
    const reopened = await journal.open(id, intent);
    assert.deepEqual([reopened.lease?.holder, reopened.row?.status, reopened.row?.intentAt], ['job-j1:a', 'running', intent.intentAt]);
    const renewed = await journal.renew(lease, 120_000);
    assert.ok(renewed && renewed.etag !== lease.etag);
    assert.equal(await journal.renew(lease, 120_000), undefined, 'a stale ETag cannot renew');
    await journal.finish(renewed, { ...intent, status: 'succeeded' });
    const closed = await journal.open(id, intent);
    assert.deepEqual([closed.lease?.holder, closed.row?.status, closed.row?.intentAt], ['', 'succeeded', intent.intentAt]);
  });

  it('journal: an intent goes only over the row as it was read, so a final row written since stands', async () => {
    const journal = new TableLedger(storage, clock);
    const id = accountId('journal-final');
    const base = { ...row('job-f1', '2026-06-01T00:00:00Z'), accountId: id };
    const early = await journal.open(id, base);
    const late = await journal.open(id, base);
    assert.equal(await journal.record({ ...base, status: 'failed', reason: 'gave up' }, early), true);
    assert.equal(await journal.begin(late, 'job-f1:b', 60_000, { ...base, status: 'running', intentAt: '2026-06-01T00:00:01.000Z' }), undefined);
    const after = await journal.open(id, base);
    assert.deepEqual([after.row?.status, after.lease], ['failed', undefined], 'neither the row nor the lease moved');
  });

  it('journal: a lease is released only as held, and the release writes no row', async () => {
    const journal = new TableLedger(storage, clock);
    const id = accountId('journal-release');
    const intent = { ...row('job-l1', '2026-06-01T00:00:00Z'), accountId: id, status: 'running' as const, intentAt: '2026-06-01T00:00:00.000Z' };
    const lease = await journal.begin(await journal.open(id, intent), 'job-l1:a', 60_000, intent);
    assert.ok(lease);
    assert.ok(await journal.renew(lease, 60_000));
    // Released with the ETag before the renewal (its answer lost): the lease is still this holder's.
    await journal.release(lease);
    const after = await journal.open(id, intent);
    assert.deepEqual([after.lease?.holder, after.row?.status], ['', 'running']);
    await journal.release(lease);
    assert.equal((await journal.open(id, intent)).lease?.holder, '', 'a release already made is left as it is');
  });

  it("journal: a renewal whose answer was lost moved the lease's ETag; the lease is still released with the outcome", async () => {
    const journal = new TableLedger(storage, clock);
    const id = accountId('journal-lost-renewal');
    const intent = { ...row('job-n1', '2026-06-01T00:00:00Z'), accountId: id, status: 'running' as const, intentAt: '2026-06-01T00:00:00.000Z' };
    const lease = await journal.begin(await journal.open(id, intent), 'job-n1:a', 60_000, intent);
    assert.ok(lease);
    // The renewal committed; the holder never heard, and finishes with the lease as it last knew it.
    assert.ok(await journal.renew(lease, 60_000));
    await journal.finish(lease, { ...intent, status: 'succeeded' });
    const closed = await journal.open(id, intent);
    assert.deepEqual([closed.lease?.holder, closed.row?.status], ['', 'succeeded']);
    // And one taken over by another holder is left to it, by finish and by release.
    const next = { ...intent, jobId: 'job-n2' };
    const mine = await journal.begin(await journal.open(id, next), 'job-n2:a', 1, next);
    assert.ok(mine);
    assert.ok(await journal.begin(await journal.open(id, { ...next, jobId: 'job-n3' }), 'job-n3:b', 60_000, { ...next, jobId: 'job-n3' }));
    await journal.release(mine);
    await journal.finish(mine, { ...next, status: 'failed' });
    assert.equal((await journal.open(id, next)).lease?.holder, 'job-n3:b');
  });

  it('journal: a guarded write whose answer was lost, sent again by the SDK, knows its own commit', async () => {
    const lossy = losingAnswers(azurite.connectionString);
    const journal = new TableLedger(lossy.storage, clock);
    const id = accountId('journal-lost-answer');
    const base = { ...row('job-la1', '2026-06-01T00:00:00Z'), accountId: id };
    const first = await journal.open(id, base);
    lossy.lose(1);
    assert.equal(await journal.record({ ...base, status: 'queued', reason: 'attempt 1: the account is Updating; retrying in 2 s' }, first), true, 'created, its answer lost');
    assert.equal(await journal.record({ ...base, status: 'failed' }, first), false, 'another write over the row as it was read');
    const second = await journal.open(id, base);
    lossy.lose(1);
    assert.equal(await journal.record({ ...base, status: 'queued', reason: 'attempt 2: the account is Updating; retrying in 4 s' }, second), true, 'updated, its answer lost');
    const third = await journal.open(id, base);
    assert.equal(third.row?.reason, 'attempt 2: the account is Updating; retrying in 4 s');
    assert.equal(Object.keys(third.row ?? {}).includes('writeId'), false, 'rows read as plain data');
    lossy.lose(1);
    const lease = await journal.begin(third, 'job-la1:a', 60_000, { ...base, status: 'running', intentAt: '2026-06-01T00:00:01.000Z' });
    assert.equal(lease?.holder, 'job-la1:a', 'the lease and the intent committed, the answer lost');
    await journal.finish(lease, { ...base, status: 'succeeded' });
    const closed = await journal.open(id, base);
    assert.deepEqual([closed.lease?.holder, closed.row?.status, closed.row?.intentAt], ['', 'succeeded', '2026-06-01T00:00:01.000Z']);
    assert.equal(await journal.begin(third, 'job-la1:b', 60_000, { ...base, status: 'running' }), undefined, 'a begin over what moved since is still refused');
  });

  it('journal: of six jobs racing for one lease exactly one wins', async () => {
    const journal = new TableLedger(storage, clock);
    const id = accountId('journal-race');
    const base = { ...row('job-r', '2026-06-01T00:00:00Z'), accountId: id, status: 'running' as const };
    const state = await journal.open(id, base);
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => journal.begin(state, `job-r${i}:x`, 60_000, { ...base, jobId: `job-r${i}` })));
    assert.equal(results.filter(Boolean).length, 1);
  });

  it('journal: the outcome is recorded even when the lease was taken over meanwhile', async () => {
    const journal = new TableLedger(storage, clock);
    const id = accountId('journal-taken');
    const intent = { ...row('job-t1', '2026-06-01T00:00:00Z'), accountId: id, status: 'running' as const };
    const lease = await journal.begin(await journal.open(id, intent), 'job-t1:a', 1, intent);
    assert.ok(lease);
    const other = await journal.begin(await journal.open(id, { ...intent, jobId: 'job-t2' }), 'job-t2:b', 60_000, { ...intent, jobId: 'job-t2' });
    assert.ok(other);
    await journal.finish(lease, { ...intent, status: 'failed', reason: 'the operation ended Failed' });
    const after = await journal.open(id, intent);
    assert.deepEqual([after.row?.status, after.lease?.holder], ['failed', 'job-t2:b'], "the new holder's lease stays");
  });

  it('pins: set, read, listed, and released only by the job that set it when it says so', async () => {
    const pins = new TablePinStore(storage);
    const pin = { accountId: accountId('pinned-a'), keyVersion: 'a'.repeat(32), actor: 'alice', reason: 'v2 breaks fine-tuning', pinnedAt: '2026-06-01T00:00:00.000Z', jobId: 'job-pin-1' };
    await pins.set(pin);
    assert.deepEqual(await pins.get(pin.accountId), pin);
    assert.ok((await pins.list()).some((p) => p.accountId === pin.accountId));
    assert.equal(await pins.release(pin.accountId, 'job-other'), undefined);
    assert.deepEqual(await pins.release(pin.accountId), pin);
    assert.equal(await pins.get(pin.accountId), undefined);
  });

  it('pins: a release whose answer was lost, sent again by the SDK, says what it released', async () => {
    const lossy = losingAnswers(azurite.connectionString);
    const pins = new TablePinStore(lossy.storage);
    const pin = { accountId: accountId('pinned-lost'), keyVersion: 'a'.repeat(32), actor: 'alice', reason: 'hold', pinnedAt: '2026-06-01T00:00:00.000Z', jobId: 'job-pin-2' };
    await pins.set(pin);
    // Both deletes (the Pins table's, then the journal's pin the job obeys) commit and lose their answers.
    lossy.lose(2);
    assert.deepEqual(await pins.release(pin.accountId), pin);
    assert.equal(await pins.get(pin.accountId), undefined);
    assert.equal((await pins.list()).some((p) => p.accountId === pin.accountId), false);
  });

  it("pins: a forced rebind's take-back cut short between its two writes, made again, leaves one pin, the replaced one, in both tables", async () => {
    // Table Storage that refuses the second write once armed (a 503 with no retry), before it is sent.
    let writes = 0;
    let armed = false;
    const flaky = storageWith(azurite.connectionString, 'refuse-the-second-write', async (request, next) => {
      if (armed && request.method !== 'GET' && ++writes === 2) {
        armed = false;
        throw Object.assign(new Error('the server is busy'), { name: 'RestError', statusCode: 503, request });
      }
      return next(request);
    });
    const pins = new TablePinStore(flaky);
    const id = accountId('pinned-take-back');
    const bob = { accountId: id, keyVersion: 'b'.repeat(32), actor: 'bob', reason: 'rollback', pinnedAt: '2026-06-01T00:00:00.000Z', jobId: 'job-rollback' };
    await pins.set(bob);
    const forced = { accountId: id, jobId: 'job-forced', force: true, scope: undefined };
    const attempt = () => new JobPin(pins, forced);
    const first = attempt();
    first.prior = bob;
    first.effect = { set: { ...bob, keyVersion: 'c'.repeat(32), actor: 'alice', reason: 'forced', jobId: 'job-forced' } };
    await first.withIntent();
    assert.equal((await pins.get(id))?.jobId, 'job-forced');
    armed = true;
    await assert.rejects(attempt().settle('failed'));
    // The job's next attempt (or the host's next delivery) takes its pin back again.
    await attempt().settle('failed');
    const listed = (await pins.list()).filter((p) => p.accountId === id);
    assert.deepEqual([(await pins.get(id))?.jobId, listed.map((p) => p.jobId)], ['job-rollback', ['job-rollback']]);
  });

  it("pins: a job reads its binding's pin with its lease and its row, in the account's partition; the ledger never shows it", async () => {
    const pins = new TablePinStore(storage);
    const ledger = new TableLedger(storage, clock);
    const id = accountId('pinned-journal');
    const pin = { accountId: id, keyVersion: 'b'.repeat(32), actor: 'bob', reason: 'rollback', pinnedAt: '2026-06-01T00:00:00.000Z', jobId: 'job-pin-2' };
    const scopePin = { ...pin, encryptionScope: 'project-a', keyVersion: 'c'.repeat(32) };
    await pins.set(pin);
    await pins.set(scopePin);
    const ref = { queuedAt: '2026-06-01T00:00:00Z', jobId: 'job-j' };
    assert.deepEqual((await ledger.open(id, ref)).pin, pin);
    assert.deepEqual((await ledger.open(id, ref, 'Project-A')).pin, scopePin);
    assert.deepEqual(await ledger.history(id, 10), [], 'pins are not ledger rows');
    await pins.release(id);
    assert.equal((await ledger.open(id, ref)).pin, undefined);
    assert.deepEqual((await pins.list()).filter((p) => p.accountId === id).map((p) => p.encryptionScope), ['project-a']);
  });

  it('rotation claims: one holder per expiring version, the same holder again, another once it expired; a lost answer is still its own', async () => {
    const claimClock = fixedClock('2026-06-01T00:00:00Z');
    const claims = new TableRotationClaims(storage, claimClock);
    const vault = 'https://kv-claims.vault.azure.net/';
    const version = 'C'.repeat(32);
    assert.deepEqual(await claims.claim(vault, 'cmk', version, 'fan-1/message-1', 60_000), { claimed: true });
    const until = new Date(Date.parse('2026-06-01T00:00:00Z') + 60_000);
    assert.deepEqual(await claims.claim(vault, 'cmk', version.toLowerCase(), 'sweep-1', 60_000), { claimed: false, holder: 'fan-1/message-1', expiresAt: until }, 'versions compare in any case');
    assert.deepEqual(await claims.claim(vault, 'CMK', version, 'fan-1/message-1', 60_000), { claimed: true }, 'its message delivered again');
    assert.deepEqual(await claims.claim(vault, 'cmk', 'd'.repeat(32), 'sweep-1', 60_000), { claimed: true }, 'another version is another rotation');
    assert.deepEqual(await claims.claim('https://kv-other.vault.azure.net/', 'cmk', version, 'sweep-1', 60_000), { claimed: true }, 'and another vault another key');
    claimClock.advance(30_000);
    assert.deepEqual(await claims.claim(vault, 'cmk', version, 'fan-1/message-1', 60_000), { claimed: true }, 'delivered again half-way: still its own');
    claimClock.advance(30_001);
    assert.deepEqual(await claims.claim(vault, 'cmk', version, 'sweep-1', 60_000), { claimed: true }, 'expired a minute after it was first claimed: taken over');

    const lossy = losingAnswers(azurite.connectionString);
    const lossyClaims = new TableRotationClaims(lossy.storage, claimClock);
    lossy.lose(1);
    assert.deepEqual(await lossyClaims.claim(vault, 'cmk', 'e'.repeat(32), 'fan-2/message-1', 60_000), { claimed: true }, 'its create answered 409 when sent again');
    assert.deepEqual(await claims.claim(vault, 'cmk', 'e'.repeat(32), 'sweep-2', 60_000), { claimed: false, holder: 'fan-2/message-1', expiresAt: new Date(claimClock.now().getTime() + 60_000) });
  });

  it('queue: jobs go out as base64 JSON, and a delay hides them', async () => {
    const client = await queueClient({ connectionString: azurite.connectionString }, 'adapter-test');
    const queue = new StorageJobQueue({ connectionString: azurite.connectionString }, 'adapter-test');
    const job: RebindJob = {
      kind: 'rebind', jobId: 'job-queue-1', trigger: 'event', createdAt: '2026-06-01T00:00:00.000Z', vaultUri: 'https://kv.vault.azure.net/',
      keyName: 'cmk', accountId: accountId('q1'), force: false, priorAttempts: 0,
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
