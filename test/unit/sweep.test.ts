import assert from 'node:assert/strict';
import { describe, it, type MockTimers } from 'node:test';
import { setImmediate as settle } from 'node:timers/promises';
import type { RebindJob } from '../../shared/domain/jobs';
import type { AccountState } from '../../shared/domain/model';
import { DependencyError } from '../../shared/errors';
import { runSweep, type SweepDeps } from '../../shared/usecases/sweep';
import { QUEUED_SWEEP_LOCK_MS, queueSweep, SWEEP_LOCK_MS, sweepOnce } from '../../shared/usecases/sweepOnce';
import { accountId, boundAccount, boundScope, estateDeps, fixedClock, hex, keyVersion, silentLogger, VAULT } from '../support/fakes';

// The compliance sweep with in-memory fakes: the findings it stores, the summary it records, and in enforce
// mode the repairs it queues.

const now = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;
const v1 = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
const v2 = keyVersion(hex(2), { createdOn: new Date('2026-03-01T00:00:00Z') });

/** v1 and v2 (v2 current) of VAULT's key cmk and these accounts, swept in `mode`. */
function estate(accounts: AccountState[], over: Partial<SweepDeps> = {}, pageSize?: number) {
  const deps = estateDeps(over, pageSize);
  deps.keys.add(v1, v2);
  deps.accounts.put(...accounts);
  return deps;
}

const codesOf = async (deps: ReturnType<typeof estate>, name: string) => (await deps.findings.list({ accountId: accountId(name) })).map((f) => f.code).sort();
const jobs = (deps: ReturnType<typeof estate>) => deps.queue.jobs.map(({ job }) => job as RebindJob);
const unreadable = () => new DependencyError('ServiceUnavailable', 'Key Vault is unavailable', { retryable: true, statusCode: 503, dependency: 'key-vault' });

describe('sweep, report mode', () => {
  it('finds the drift and stores it, queues nothing, and records a completed summary', async () => {
    const deps = estate([boundAccount('current', v2.version), boundAccount('behind', v1.version)], {}, 1);
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual(await codesOf(deps, 'behind'), ['version-drift']);
    assert.deepEqual(await codesOf(deps, 'current'), []);
    assert.equal(deps.queue.jobs.length, 0);
    assert.deepEqual([summary.status, summary.accountsSeen, summary.keysRead, summary.findingsByCode['version-drift'], summary.remediationsQueued], ['completed', 2, 1, 1, 0]);
    assert.deepEqual(deps.sweeps.records.map((r) => r.status), ['running', 'completed']);
  });

  it('rewrites only the verdicts that changed, and drops those of accounts no longer bound', async () => {
    const deps = estate([boundAccount('a1', v1.version), boundAccount('a2', v1.version)]);
    await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.equal(deps.findings.written.length, 2);
    deps.accounts.put(boundAccount('a1', v2.version));
    deps.accounts.accounts.delete(accountId('a2').toLowerCase());
    await runSweep('sweep-2', 'timer', deps, silentLogger());
    assert.deepEqual(deps.findings.written.slice(2), [accountId('a1')], 'a1 fixed is written; a2 gone is not judged');
    assert.deepEqual((await deps.findings.list()).map((f) => f.accountId), [], 'a2\'s findings are gone with it');
  });

  it('leaves an opted-out account unjudged, and reports a pinned one instead of its drift', async () => {
    const deps = estate([boundAccount('out', v1.version, { tags: { 'cmk-rotator:opt-out': 'true' } }), boundAccount('pinned', v1.version)]);
    await deps.pins.set({ accountId: accountId('pinned'), keyVersion: v1.version, actor: 'alice', reason: 'v2 breaks fine-tuning', pinnedAt: now.toISOString(), jobId: 'job-1' });
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.equal(summary.accountsSeen, 1);
    assert.deepEqual(await codesOf(deps, 'out'), []);
    assert.deepEqual(await codesOf(deps, 'pinned'), ['pinned']);
  });

  it('a key that cannot be read makes the run partial and marks only its accounts: they keep their last findings', async () => {
    const other = (name: string, version: string) => boundAccount(name, version, { binding: { vaultUri: VAULT, keyName: 'other', keyVersion: version } });
    const deps = estate([boundAccount('fine', v1.version), other('o1', hex(9)), other('o2', hex(9))]);
    deps.keys.add(keyVersion(hex(9), { keyName: 'other', enabled: false }));
    await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual(await codesOf(deps, 'o1'), ['key-disabled']);
    const list = deps.keys.listVersions.bind(deps.keys);
    deps.keys.listVersions = async (vaultUri, keyName) => (keyName === 'other' ? Promise.reject(unreadable()) : list(vaultUri, keyName));
    deps.accounts.put(boundAccount('fine', v2.version));
    const summary = await runSweep('sweep-2', 'timer', deps, silentLogger());
    assert.equal(summary.status, 'partial');
    assert.deepEqual(summary.errors.map((e) => /^key other in /.test(e)), [true], summary.errors.join('; '));
    assert.deepEqual([await codesOf(deps, 'o1'), await codesOf(deps, 'o2'), await codesOf(deps, 'fine')], [['key-disabled'], ['key-disabled'], []]);
  });

  it('a key the service may not read (403) is a finding on its accounts, not a partial run', async () => {
    const deps = estate([boundAccount('a1', v1.version)]);
    deps.keys.listVersions = async () => Promise.reject(new DependencyError('Forbidden', 'no list permission', { retryable: false, statusCode: 403, dependency: 'key-vault' }));
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual([summary.status, await codesOf(deps, 'a1')], ['completed', ['key-access-denied']]);
  });

  it('a vault outside KEY_VAULT_HOST_SUFFIXES is not read: its accounts are unchecked and the run partial', async () => {
    const deps = estate([boundAccount('a1', v1.version, { binding: { vaultUri: 'https://kv.evil.example/', keyName: 'cmk', keyVersion: v1.version } })]);
    const reads = deps.keys.reads;
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.equal(deps.keys.reads, reads);
    assert.equal(summary.status, 'partial');
    assert.match(summary.errors.join(), /outside KEY_VAULT_HOST_SUFFIXES/);
  });

  it('reads each key and bound version once, however many accounts are bound to it', async () => {
    const reads = async (n: number) => {
      const deps = estate(Array.from({ length: n }, (_, i) => boundAccount(`a${i}`, i % 2 ? v1.version : v2.version)), {}, 4);
      await runSweep('sweep-1', 'timer', deps, silentLogger());
      return deps.keys.reads;
    };
    assert.equal(await reads(24), await reads(2));
  });
});

describe('sweep, enforce mode', () => {
  const enforce = { sweepMode: 'enforce' } as const;

  it('queues a repair to the newest usable version for drift that ARM confirms, one per binding, scopes included', async () => {
    const deps = estate([boundAccount('behind', v1.version), boundAccount('current', v2.version)], enforce);
    deps.accounts.putScope(boundScope('current', 'p1', v1.version));
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual(jobs(deps).map((j) => [j.accountId, j.encryptionScope, j.targetVersion, j.trigger]).sort(), [
      [accountId('behind'), undefined, v2.version, 'sweep'],
      [accountId('current'), 'p1', v2.version, 'sweep'],
    ]);
    assert.equal(summary.remediationsQueued, 2);
    assert.deepEqual([...deps.ledger.rows.values()].map((r) => [r.status, r.fromVersion]), [['queued', v1.version], ['queued', v1.version]]);
  });

  it('queues no repair when ARM already reports the newer version (discovery lagged)', async () => {
    const deps = estate([boundAccount('behind', v1.version)], enforce);
    deps.accounts.getAccount = async (id) => boundAccount('behind', v2.version, { id });
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual([deps.queue.jobs.length, summary.remediationsQueued], [0, 0]);
  });

  it('leaves pinned and opted-out accounts alone; a versionless binding gets a job that records it skipped, not a repair', async () => {
    const deps = estate([
      boundAccount('pinned', v1.version), boundAccount('out', v1.version, { tags: { 'cmk-rotator:opt-out': 'yes' } }), boundAccount('versionless', ''),
    ], enforce);
    await deps.pins.set({ accountId: accountId('pinned'), keyVersion: v1.version, actor: 'alice', reason: 'r', pinnedAt: now.toISOString(), jobId: 'job-1' });
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual(jobs(deps).map((j) => j.accountId), [accountId('versionless')]);
    assert.equal(summary.remediationsQueued, 0);
    assert.deepEqual(await codesOf(deps, 'versionless'), ['versionless-binding']);
  });

  it('NEAR_EXPIRY_ACTION=rotate rotates a key whose bound version nears expiry once, and binds every such account to it', async () => {
    const expiring = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z'), expiresOn: new Date(now.getTime() + 10 * DAY) });
    const deps = estate([boundAccount('a1', expiring.version), boundAccount('a2', expiring.version)], { ...enforce, nearExpiryAction: 'rotate' }, 1);
    deps.keys.add(expiring);
    await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual(deps.keys.rotations, ['cmk']);
    const rotated = deps.keys.versions.at(-1)?.version;
    assert.deepEqual(jobs(deps).map((j) => j.targetVersion), [rotated, rotated]);
  });

  it("NEAR_EXPIRY_ACTION=rotate leaves a rotation another holder claimed (a fan-out of the key's KeyNearExpiry) to it", async () => {
    const expiring = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z'), expiresOn: new Date(now.getTime() + 10 * DAY) });
    const deps = estate([boundAccount('a1', expiring.version)], { ...enforce, nearExpiryAction: 'rotate' });
    deps.keys.add(expiring);
    // The fan-out has claimed it and is rotating now.
    assert.deepEqual(await deps.rotationClaims.claim(VAULT, 'cmk', expiring.version, 'fan-1/message-1', 60_000), { claimed: true });
    const log = silentLogger();
    const summary = await runSweep('sweep-1', 'timer', deps, log);
    assert.deepEqual([deps.keys.rotations, deps.queue.jobs.length, summary.errors], [[], 0, []]);
    assert.ok(log.lines.some((l) => l.event === 'key.rotation-claimed' && l.fields.holder === 'fan-1/message-1' && l.fields.version === expiring.version));
  });

  it('NEAR_EXPIRY_ACTION=rotate binds, without rotating, a version another holder made after the sweep read the key (its claim since expired)', async () => {
    const expiring = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z'), expiresOn: new Date(now.getTime() + 10 * DAY) });
    const deps = estate([boundAccount('a1', expiring.version)], { ...enforce, nearExpiryAction: 'rotate' });
    deps.keys.add(expiring);
    // The sweep read the key long ago; a fan-out rotated since, and its claim expired before the sweep's last page.
    const claim = deps.rotationClaims.claim.bind(deps.rotationClaims);
    deps.rotationClaims.claim = async (...args) => {
      await deps.keys.rotateKey(VAULT, 'cmk');
      return claim(...args);
    };
    const log = silentLogger();
    await runSweep('sweep-1', 'timer', deps, log);
    const made = deps.keys.versions.at(-1)?.version;
    assert.deepEqual(deps.keys.rotations, ['cmk'], "the fan-out's rotation only");
    assert.deepEqual(jobs(deps).map((j) => j.targetVersion), [made]);
    assert.equal(log.lines.some((l) => l.event === 'key.rotated'), false);
  });

  it('report mode queues nothing and rotates nothing for the same estate', async () => {
    const deps = estate([boundAccount('behind', v1.version), boundAccount('versionless', '')], { nearExpiryAction: 'rotate' });
    await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual([deps.queue.jobs.length, deps.ledger.rows.size, deps.keys.rotations.length], [0, 0, 0]);
  });
});

describe('sweep, many accounts to a page', () => {
  it('stores the verdict of every account of a page, more than are judged at once, and none again the next time', async () => {
    const names = Array.from({ length: 100 }, (_, i) => `many-${String(i).padStart(3, '0')}`);
    const deps = estate(names.map((name) => boundAccount(name, v1.version)), {}, 60);
    await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.equal(deps.findings.written.length, 100);
    const drifting = await Promise.all(names.map((name) => codesOf(deps, name)));
    assert.ok(drifting.every((codes) => codes.join() === 'version-drift'));
    await runSweep('sweep-2', 'timer', deps, silentLogger());
    assert.equal(deps.findings.written.length, 100, 'nothing changed, nothing written');
  });
});

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
    const deps = estate([boundAccount('a1', v1.version)]);
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
    const deps = estate([boundAccount('a1', v1.version)]);
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
    const deps = estate([boundAccount('a1', v1.version)], { sweepMode: 'enforce' });
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
    const deps = estate([boundAccount('a1', v1.version)]);
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
    const deps = Object.assign(estate([boundAccount('a1', v1.version)], { clock }), { sweepLockMs: 30 });
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

  it('a sweep whose renewals fail loses the lock once it expires, says so, and its end leaves the lock of the sweep that took it', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const clock = fixedClock(now.toISOString());
    const deps = Object.assign(estate([boundAccount('a1', v1.version)], { clock }), { sweepLockMs: 30 });
    const { reading, release } = holdFirstKeyRead(deps);
    const renew = deps.sweeps.renew.bind(deps.sweeps);
    let failed!: () => void;
    const renewFailed = new Promise<void>((resolve) => (failed = resolve));
    deps.sweeps.renew = async () => {
      failed();
      throw new DependencyError('ServerBusy', 'Table Storage is busy', { retryable: true, statusCode: 503, dependency: 'storage' });
    };
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
    assert.equal((await first).ran, true, 'the run itself ends');
    assert.ok(log.lines.some((l) => l.event === 'sweep.lock-renew-failed' && l.fields.error === 'Table Storage is busy'));
    assert.ok(log.lines.some((l) => l.event === 'sweep.lock-lost' && l.fields.sweepId === 'sweep-1'));
    assert.equal(deps.sweeps.lockedBy?.sweepId, 'sweep-2', "the first sweep's end leaves the second's lock");
  });

  it('a renewal under way when the run ends is waited for before the lock is released; a bug in it goes up once the run has ended', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const deps = Object.assign(estate([boundAccount('a1', v1.version)]), { sweepLockMs: 30 });
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
    const deps = Object.assign(estate([boundAccount('a1', v1.version)], { clock }), { sweepLockMs: 30 });
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
    const deps = estate([boundAccount('a1', v1.version)], { clock });
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
