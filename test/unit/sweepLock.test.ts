import assert from 'node:assert/strict';
import { describe, it, type MockTimers } from 'node:test';
import { setImmediate as settle } from 'node:timers/promises';
import { DependencyError } from '../../shared/errors';
import type { SweepDeps } from '../../shared/usecases/sweep';
import { QUEUED_SWEEP_LOCK_MS, queueSweep, SWEEP_LOCK_MS, sweepOnce } from '../../shared/usecases/sweepOnce';
import { accountKey } from '../../shared/domain/accounts';
import { accountId, boundAccount, estateDeps, fixedClock, hex, keyVersion, silentLogger } from '../support/fakes';

// One compliance sweep at a time: the lock in the Sweeps table (in memory here), how a running sweep renews it,
// and how a queued sweep's messages take it.

const now = new Date('2026-06-01T00:00:00Z');
const v1 = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
const v2 = keyVersion(hex(2), { createdOn: new Date('2026-03-01T00:00:00Z') });

/** One account bound to v1 of VAULT's key cmk, which has a newer v2: a sweep let through finds drift. */
function estate(over: Partial<SweepDeps> = {}) {
  const deps = estateDeps(over);
  deps.keys.add(v1, v2);
  deps.accounts.put(boundAccount('a1', v1.version));
  return deps;
}

/** The first Key Vault read of a sweep waits until released: that sweep holds the lock meanwhile. */
function holdFirstKeyRead(deps: Pick<SweepDeps, 'keys'>): { reading: Promise<void>; release: () => void } {
  let entered!: () => void;
  let release!: () => void;
  const reading = new Promise<void>((resolve) => (entered = resolve));
  const held = new Promise<void>((resolve) => (release = resolve));
  const list = deps.keys.listVersions.bind(deps.keys);
  let calls = 0;
  deps.keys.listVersions = async (vaultUri, keyName) => {
    if (calls++ === 0) {
      entered();
      await held;
    }
    return list(vaultUri, keyName);
  };
  return { reading, release };
}

/** Fires the sweep lock's renewal timer (mocked, every 10 ms) and resolves with that renewal's answer. */
function nextRenewal(deps: ReturnType<typeof estate>, timers: MockTimers): Promise<boolean> {
  const renew = deps.sweeps.renew.bind(deps.sweeps);
  const answered = new Promise<boolean>((resolve) => {
    deps.sweeps.renew = async (...args) => {
      deps.sweeps.renew = renew;
      const kept = await renew(...args);
      resolve(kept);
      return kept;
    };
  });
  timers.tick(10);
  return answered;
}

describe('one sweep at a time', () => {
  it('refuses a second sweep while one holds the lock, naming it; runs again once the first is done', async () => {
    const deps = estate();
    // Only the first sweep's read waits: a second sweep let through would run to its end.
    const { reading, release } = holdFirstKeyRead(deps);
    const first = sweepOnce('sweep-1', 'timer', deps, silentLogger());
    await reading;
    const log = silentLogger();
    assert.deepEqual(await sweepOnce('sweep-2', 'manual', deps, log), { ran: false, runningSweepId: 'sweep-1' });
    assert.ok(log.lines.some((l) => l.event === 'sweep.skipped' && l.fields.runningSweepId === 'sweep-1'));
    assert.equal(await deps.sweeps.get('sweep-2'), undefined, 'the refused sweep recorded nothing');
    release();
    assert.equal((await first).ran, true);
    assert.equal((await sweepOnce('sweep-3', 'manual', deps, silentLogger())).ran, true);
  });

  it("a queued sweep's second message (a send repeated after its answer was lost) is skipped, during the run and after it; its own message delivered again runs", async () => {
    const deps = estate();
    // POST /api/compliance/sweeps took the lock for sweep-q and queued it.
    assert.deepEqual(await deps.sweeps.lock('sweep-q', SWEEP_LOCK_MS), { held: false });
    const { reading, release } = holdFirstKeyRead(deps);
    const first = sweepOnce('sweep-q', 'manual', deps, silentLogger(), 'message-1');
    await reading;
    assert.deepEqual(await sweepOnce('sweep-q', 'manual', deps, silentLogger(), 'message-2'), { ran: false, runningSweepId: 'sweep-q' });
    // message-1's worker dies here: the host delivers it again, and that delivery takes the lock over.
    assert.equal((await sweepOnce('sweep-q', 'manual', deps, silentLogger(), 'message-1')).ran, true);
    release();
    assert.equal((await first).ran, true);
    assert.equal(deps.sweeps.records.filter((r) => r.status === 'completed').length, 2, 'two runs, neither of them message-2');
    assert.deepEqual(await sweepOnce('sweep-q', 'manual', deps, silentLogger(), 'message-2'), { ran: false, runningSweepId: 'sweep-q' }, 'nor once the run has ended');
    assert.equal((await sweepOnce('sweep-next', 'timer', deps, silentLogger())).ran, true, 'the next sweep runs');
  });

  it('starts reading while the lock is asked for, and writes nothing until it is taken (nothing at all when it is not)', async () => {
    const deps = estate({ sweepMode: 'enforce' });
    let answer!: (lock: { held: false } | { held: true; sweepId: string }) => void;
    deps.sweeps.lock = () => new Promise((resolve) => (answer = resolve));
    const discovered = deps.discovery.cmkAccounts.bind(deps.discovery);
    let read = false;
    deps.discovery.cmkAccounts = () => ((read = true), discovered());
    const refused = sweepOnce('sweep-2', 'timer', deps, silentLogger());
    await new Promise((r) => setImmediate(r));
    assert.equal(read, true, 'discovery asked before the lock answered');
    assert.deepEqual([deps.sweeps.records.length, deps.findings.written.length], [0, 0]);
    answer({ held: true, sweepId: 'sweep-1' });
    assert.deepEqual(await refused, { ran: false, runningSweepId: 'sweep-1' });
    assert.deepEqual([deps.sweeps.records.length, deps.findings.written.length, deps.queue.jobs.length], [0, 0, 0], 'the refused run wrote nothing');

    deps.sweeps.lock = async () => Promise.reject(new DependencyError('ServerBusy', 'Table Storage is busy', { retryable: true, statusCode: 503, dependency: 'storage' }));
    await assert.rejects(sweepOnce('sweep-3', 'timer', deps, silentLogger()), /Table Storage is busy/);
    assert.deepEqual([deps.sweeps.records.length, deps.findings.written.length, deps.queue.jobs.length], [0, 0, 0], 'nor did a run whose lock could not be taken');
  });

  it('a queued sweep that failed releases the lock: the host delivers its message again, and that delivery runs it', async () => {
    const deps = estate();
    const replace = deps.findings.replaceForAccount.bind(deps.findings);
    deps.findings.replaceForAccount = async () => Promise.reject(new Error('findings table gone'));
    await assert.rejects(sweepOnce('sweep-f', 'manual', deps, silentLogger(), 'message-1'), /findings table gone/);
    deps.findings.replaceForAccount = replace;
    const again = await sweepOnce('sweep-f', 'manual', deps, silentLogger(), 'message-1');
    assert.equal(again.ran && again.summary.status, 'completed');
  });

  it("a running sweep renews its lock: it keeps the lock past the lock's life, however long it runs", async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const clock = fixedClock(now.toISOString());
    // A lock that lives 30 ms, renewed every 10.
    const deps = Object.assign(estate({ clock }), { sweepLockMs: 30 });
    const { reading, release } = holdFirstKeyRead(deps);
    const first = sweepOnce('sweep-1', 'timer', deps, silentLogger());
    await reading;
    // An hour passes while the first sweep works, and then it renews.
    clock.set(new Date(now.getTime() + QUEUED_SWEEP_LOCK_MS).toISOString());
    assert.equal(await nextRenewal(deps, t.mock.timers), true);
    assert.deepEqual(await sweepOnce('sweep-2', 'timer', deps, silentLogger()), { ran: false, runningSweepId: 'sweep-1' });
    release();
    assert.equal((await first).ran, true);
    assert.equal(deps.sweeps.lockedBy, undefined, 'released at its end');
  });

  it('a sweep whose renewals fail loses the lock once it expires, says so, stops, and leaves the lock of the sweep that took it', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const clock = fixedClock(now.toISOString());
    const deps = Object.assign(estate({ clock }), { sweepLockMs: 30 });
    const { reading, release } = holdFirstKeyRead(deps);
    const renew = deps.sweeps.renew.bind(deps.sweeps);
    let failed!: () => void;
    const renewFailed = new Promise<void>((resolve) => (failed = resolve));
    deps.sweeps.renew = async () => {
      failed();
      throw new DependencyError('ServerBusy', 'Table Storage is busy', { retryable: true, statusCode: 503, dependency: 'storage' });
    };
    // A verdict of an account no longer seen: a complete run would remove it.
    await deps.findings.upsert(accountId('gone'), [{ code: 'version-drift', severity: 'warning', evidence: {}, remedy: 'r' }], 'sweep-0', now.toISOString());
    const log = silentLogger();
    const first = sweepOnce('sweep-1', 'timer', deps, log);
    await reading;
    t.mock.timers.tick(10);
    await renewFailed;
    clock.set(new Date(now.getTime() + 31).toISOString());
    assert.deepEqual(await deps.sweeps.lock('sweep-2', SWEEP_LOCK_MS), { held: false }, 'expired: another sweep takes it');
    deps.sweeps.renew = renew;
    assert.equal(await nextRenewal(deps, t.mock.timers), false);
    release();
    await assert.rejects(first, /the sweep lock is no longer this run's .*: the run stopped there/);
    assert.ok(log.lines.some((l) => l.event === 'sweep.lock-renew-failed' && l.fields.error === 'Table Storage is busy'));
    assert.ok(log.lines.some((l) => l.event === 'sweep.lock-lost' && l.fields.sweepId === 'sweep-1'));
    const row = await deps.sweeps.get('sweep-1');
    assert.deepEqual([row?.status, row?.errors.at(-1)], ['failed', "the sweep lock is no longer this run's (taken over once it could not be renewed): the run stopped there"]);
    assert.ok(deps.findings.byAccount.has(accountKey(accountId('gone'))), 'the verdicts of accounts it did not see are left to the sweep that took over');
    assert.equal(deps.sweeps.lockedBy?.sweepId, 'sweep-2', "the first sweep's end leaves the second's lock");
  });

  it('a renewal under way when the run ends is waited for before the lock is released; a bug in it goes up once the run has ended', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const deps = Object.assign(estate(), { sweepLockMs: 30 });
    const { reading, release } = holdFirstKeyRead(deps);
    const calls: string[] = [];
    let renewing!: () => void;
    let fail!: (error: Error) => void;
    const renewStarted = new Promise<void>((resolve) => (renewing = resolve));
    deps.sweeps.renew = () => {
      calls.push('renew');
      renewing();
      return new Promise((_, reject) => (fail = reject));
    };
    const unlock = deps.sweeps.unlock.bind(deps.sweeps);
    deps.sweeps.unlock = async (...args) => {
      calls.push('unlock');
      return unlock(...args);
    };
    const record = deps.sweeps.record.bind(deps.sweeps);
    let ended!: () => void;
    const lastRow = new Promise<void>((resolve) => (ended = resolve));
    deps.sweeps.record = async (summary) => {
      await record(summary);
      if (summary.status !== 'running') ended();
    };
    const run = sweepOnce('sweep-1', 'timer', deps, silentLogger());
    await reading;
    t.mock.timers.tick(10);
    await renewStarted;
    release();
    await lastRow;
    await settle();
    assert.deepEqual(calls, ['renew'], 'the run has ended; its lock waits for the renewal');
    fail(new TypeError('a bug in renewing'));
    await assert.rejects(run, /a bug in renewing/);
    assert.deepEqual(calls, ['renew', 'unlock']);
    assert.equal(deps.sweeps.lockedBy, undefined, 'released');
    assert.equal((await deps.sweeps.get('sweep-1'))?.status, 'completed', 'the row says how the sweep itself ended');
  });

  it('the lock a request takes for the sweep it queues lasts while the message waits; its run then holds it as any running sweep', async () => {
    const clock = fixedClock(now.toISOString());
    const deps = Object.assign(estate({ clock }), { sweepLockMs: 30 });
    assert.deepEqual(await queueSweep('sweep-q', 'someone@example.com', deps), { queued: true });
    clock.set(new Date(now.getTime() + QUEUED_SWEEP_LOCK_MS / 2).toISOString());
    assert.deepEqual(await sweepOnce('sweep-timer', 'timer', deps, silentLogger()), { ran: false, runningSweepId: 'sweep-q' }, 'half an hour in the queue');
    assert.deepEqual(await queueSweep('sweep-other', 'someone@example.com', deps), { queued: false, runningSweepId: 'sweep-q' });
    const { reading, release } = holdFirstKeyRead(deps);
    const run = sweepOnce('sweep-q', 'manual', deps, silentLogger(), 'message-1');
    await reading;
    assert.equal(deps.sweeps.lockedBy?.expiresAt, clock.now().getTime() + 30, 'the run holds the lock for a running sweep\'s life');
    release();
    assert.equal((await run).ran, true);
  });

  it('a sweep that failed releases the lock; a lock left by a dead sweep is taken over once stale', async () => {
    const clock = fixedClock(now.toISOString());
    const deps = estate({ clock });
    const replace = deps.findings.replaceForAccount.bind(deps.findings);
    deps.findings.replaceForAccount = async () => Promise.reject(new Error('findings table gone'));
    await assert.rejects(sweepOnce('sweep-1', 'timer', deps, silentLogger()), /findings table gone/);
    assert.equal((await deps.sweeps.get('sweep-1'))?.status, 'failed');
    assert.equal(deps.sweeps.lockedBy, undefined);
    deps.findings.replaceForAccount = replace;
    await deps.sweeps.lock('dead-sweep', SWEEP_LOCK_MS);
    clock.set(new Date(now.getTime() + SWEEP_LOCK_MS).toISOString());
    assert.equal((await sweepOnce('sweep-2', 'timer', deps, silentLogger())).ran, false);
    clock.set(new Date(now.getTime() + SWEEP_LOCK_MS + 1000).toISOString());
    assert.equal((await sweepOnce('sweep-3', 'timer', deps, silentLogger())).ran, true);
  });
});
