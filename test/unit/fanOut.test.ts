import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArmAccounts } from '../../shared/adapters/armDiscovery';
import { ScopedDiscovery } from '../../shared/adapters/scopeDiscovery';
import type { FanOutJob, RebindJob } from '../../shared/domain/jobs';
import type { AccountState } from '../../shared/domain/model';
import { DependencyError } from '../../shared/errors';
import { ROTATION_CLAIM_MS } from '../../shared/usecases/expiryRotation';
import { parseJob } from '../../shared/messages/rotationJobs';
import { fanOut } from '../../shared/usecases/fanOut';
import { accountId, boundAccount, boundScope, estateDeps, fixedClock, hex, keyVersion, silentLogger, SUB, VAULT } from '../support/fakes';

// Fan-out of one key event with in-memory fakes: the jobs it queues (and their rows), the findings it records,
// and the key rotations it asks Key Vault for.

const now = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;
const v1 = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
const v2 = keyVersion(hex(2), { createdOn: new Date('2026-03-01T00:00:00Z') });

function event(over: Partial<FanOutJob> = {}): FanOutJob {
  return { kind: 'fan-out', jobId: 'fan-00000001', trigger: 'event', createdAt: now.toISOString(), vaultUri: VAULT, keyName: 'cmk', targetVersion: v2.version, force: false, action: 'bind', ...over };
}

/** Fakes with v1 and v2 (v2 current) and these accounts; discovery answers `pageSize` accounts a page. */
function estate(accounts: AccountState[], pageSize?: number) {
  const deps = estateDeps({}, pageSize);
  deps.keys.add(v1, v2);
  deps.accounts.put(...accounts);
  return deps;
}

const rebinds = (deps: ReturnType<typeof estate>) => deps.queue.jobs.map(({ job }) => job).filter((job): job is RebindJob => job.kind === 'rebind');
const fanOutsQueued = (deps: ReturnType<typeof estate>) => deps.queue.jobs.filter(({ job }) => job.kind === 'fan-out').map(({ job, delaySeconds }) => ({ job: job as FanOutJob, delaySeconds }));
const names = (deps: ReturnType<typeof estate>) => rebinds(deps).map((j) => `${j.accountId.split('/').pop()}${j.encryptionScope ? `:${j.encryptionScope}` : ''}`).sort();

describe('fan-out of a new key version', () => {
  it('queues one rebind per bound account across every page, with the event\'s version and a queued row from the bound version', async () => {
    const deps = estate(['a1', 'a2', 'a3', 'a4', 'a5'].map((n) => boundAccount(n, v1.version)), 2);
    deps.accounts.put(boundAccount('other-key', v1.version, { binding: { vaultUri: VAULT, keyName: 'other', keyVersion: v1.version } }));
    const result = await fanOut(event(), deps, silentLogger());
    assert.deepEqual(result, { bound: 5, queued: 5 });
    assert.deepEqual(names(deps), ['a1', 'a2', 'a3', 'a4', 'a5']);
    assert.ok(rebinds(deps).every((j) => j.targetVersion === v2.version && j.parentJobId === 'fan-00000001' && j.trigger === 'event'));
    const rows = [...deps.ledger.rows.values()];
    assert.deepEqual(rows.map((r) => [r.status, r.fromVersion]), Array(5).fill(['queued', v1.version]));
  });

  it('queues the first page\'s jobs before it reads the last page', async () => {
    const deps = estate(['a1', 'a2', 'a3', 'a4', 'a5', 'a6'].map((n) => boundAccount(n, v1.version)), 2);
    const queuedWhenRead: number[] = [];
    const boundTo = deps.discovery.boundTo.bind(deps.discovery);
    deps.discovery.boundTo = (key) => ({
      async *[Symbol.asyncIterator]() {
        for await (const page of boundTo(key)) {
          queuedWhenRead.push(deps.queue.jobs.length);
          yield page;
        }
      },
    });
    await fanOut(event(), deps, silentLogger());
    assert.equal(queuedWhenRead.length, 3);
    assert.ok((queuedWhenRead.at(-1) ?? 0) >= 2, `jobs queued when each page was read: ${queuedWhenRead.join(', ')}`);
  });

  it('leaves an account tagged with the opt-out tag (any case) alone, scopes included, unless the tag says false', async () => {
    const deps = estate([
      boundAccount('in', v1.version),
      boundAccount('out', v1.version, { tags: { 'CMK-Rotator:Opt-Out': 'true' } }),
      boundAccount('not-out', v1.version, { tags: { 'cmk-rotator:opt-out': 'False' } }),
    ]);
    deps.accounts.putScope(boundScope('out', 'p1', v1.version));
    const log = silentLogger();
    const result = await fanOut(event(), deps, log);
    assert.deepEqual(result, { bound: 2, queued: 2 });
    assert.deepEqual(names(deps), ['in', 'not-out']);
    assert.deepEqual(log.lines.filter((l) => l.event === 'fan-out.opted-out').map((l) => l.fields.accountId), [accountId('out')]);
  });

  it('a re-delivered event names the same rebind jobs, so each binding keeps one row', async () => {
    const deps = estate([boundAccount('a1', v1.version), boundAccount('a2', v1.version)]);
    await fanOut(event(), deps, silentLogger());
    const first = rebinds(deps).map((j) => j.jobId);
    await fanOut(event(), deps, silentLogger());
    assert.deepEqual(rebinds(deps).slice(2).map((j) => j.jobId), first);
    assert.equal(deps.ledger.rows.size, 2);
    await fanOut(event({ jobId: 'fan-00000002' }), deps, silentLogger());
    assert.equal(rebinds(deps).slice(4).filter((j) => first.includes(j.jobId)).length, 0, 'another event names other jobs');
  });

  it('writes a queued row only once its message is on the queue: a failed send leaves no row and fails the fan-out', async () => {
    const deps = estate([boundAccount('a1', v1.version), boundAccount('a2', v1.version)]);
    const enqueue = deps.queue.enqueue.bind(deps.queue);
    const rowsAtSend: number[] = [];
    deps.queue.enqueue = async (job, options) => {
      rowsAtSend.push([...deps.ledger.rows.values()].filter((r) => r.jobId === job.jobId).length);
      if ((job as RebindJob).accountId === accountId('a2')) throw new Error('queue unavailable');
      return enqueue(job, options);
    };
    await assert.rejects(fanOut(event(), deps, silentLogger()), /queue unavailable/);
    assert.deepEqual(rowsAtSend, [0, 0], 'no row before its message');
    assert.deepEqual([...deps.ledger.rows.values()].map((r) => r.accountId), [accountId('a1')]);
  });
});

describe('fan-out of an expiry event with notify or expired: findings, no jobs', () => {
  it('KeyNearExpiry records key-near-expiry for each bound account (and scope) from the key as read, and queues nothing', async () => {
    const expiring = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z'), expiresOn: new Date(now.getTime() + 10 * DAY) });
    const deps = estate([boundAccount('a1', expiring.version), boundAccount('a2', v1.version)]);
    deps.keys.add(expiring);
    deps.accounts.putScope(boundScope('a2', 'p1', expiring.version));
    const result = await fanOut(event({ action: 'notify', targetVersion: undefined, eventVersion: expiring.version, eventId: 'ev-1' }), deps, silentLogger());
    assert.equal(result.queued, 0);
    assert.equal(deps.queue.jobs.length + deps.ledger.rows.size, 0);
    const found = (await deps.findings.list()).map((f) => `${f.accountId.split('/').pop()}${f.encryptionScope ? `:${f.encryptionScope}` : ''} ${f.code} ${f.sweepId}`).sort();
    assert.deepEqual(found, ['a1 key-near-expiry ev-1', 'a2:p1 key-near-expiry ev-1'], 'only key findings; a2\'s own binding to v1 is fine');
  });

  it('KeyExpired re-reads the key: an expired bound version is critical, a version the event got wrong is not', async () => {
    const expired = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z'), expiresOn: new Date(now.getTime() - DAY) });
    const deps = estate([boundAccount('gone', expired.version), boundAccount('fine', v2.version)]);
    deps.keys.add(expired);
    const log = silentLogger();
    await fanOut(event({ action: 'expired', targetVersion: undefined, eventVersion: v2.version }), deps, log);
    assert.deepEqual((await deps.findings.list()).map((f) => [f.accountId, f.code, f.severity]), [[accountId('gone'), 'key-expired', 'critical']]);
    assert.deepEqual(log.lines.filter((l) => l.event === 'finding.critical').map((l) => l.fields.accountId), [accountId('gone')]);
    assert.equal(deps.queue.jobs.length, 0);
  });
});

describe('fan-out of KeyNearExpiry with NEAR_EXPIRY_ACTION=rotate', () => {
  const rotate = (over: Partial<FanOutJob> = {}) => event({ action: 'rotate', targetVersion: undefined, eventVersion: v2.version, ...over });
  const expiringV2 = keyVersion(hex(2), { createdOn: new Date('2026-03-01T00:00:00Z'), expiresOn: new Date(now.getTime() + 10 * DAY) });

  it('binds a newer usable version that already exists, without rotating', async () => {
    const v3 = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z') });
    const deps = estate([boundAccount('a1', v2.version)]);
    deps.keys.add(v3);
    await fanOut(rotate(), deps, silentLogger());
    assert.deepEqual(deps.keys.rotations, []);
    assert.deepEqual(rebinds(deps).map((j) => j.targetVersion), [v3.version]);
  });

  it('passes over a newer version that is not usable and rotates once for every page; a retry binds that version and does not rotate again', async () => {
    const deps = estateDeps({}, 2);
    deps.keys.add(v1, expiringV2, keyVersion(hex(4), { createdOn: new Date('2026-05-01T00:00:00Z'), enabled: false }));
    deps.accounts.put(...['a1', 'a2', 'a3'].map((n) => boundAccount(n, expiringV2.version)));
    const log = silentLogger();
    await fanOut(rotate(), deps, log);
    assert.deepEqual(deps.keys.rotations, ['cmk']);
    const rotated = deps.keys.versions.at(-1)?.version;
    assert.deepEqual(rebinds(deps).map((j) => j.targetVersion), [rotated, rotated, rotated]);
    assert.equal(log.lines.find((l) => l.event === 'key.rotated')?.fields.version, rotated);
    await fanOut(rotate(), deps, silentLogger());
    assert.deepEqual(deps.keys.rotations, ['cmk'], 'the retry found the rotated version');
    assert.deepEqual(rebinds(deps).slice(3).map((j) => j.targetVersion), [rotated, rotated, rotated]);
  });

  it('two copies of the fan-out side by side (an event delivered twice) rotate once: the second finds the rotation claimed', async () => {
    const deps = estateDeps({}, 2);
    deps.keys.add(v1, expiringV2);
    deps.accounts.put(...['a1', 'a2', 'a3'].map((n) => boundAccount(n, expiringV2.version)));
    // The first rotation waits until the second copy has asked for the claim: both have seen no newer version.
    let asked = 0;
    let bothAsked!: () => void;
    const asking = new Promise<void>((resolve) => (bothAsked = resolve));
    const claim = deps.rotationClaims.claim.bind(deps.rotationClaims);
    deps.rotationClaims.claim = async (...args) => {
      const answer = await claim(...args);
      if (++asked === 2) bothAsked();
      return answer;
    };
    const rotateKey = deps.keys.rotateKey.bind(deps.keys);
    deps.keys.rotateKey = async (...args) => {
      await asking;
      return rotateKey(...args);
    };
    const log = silentLogger();
    await Promise.all([fanOut(rotate(), deps, log, 'message-1'), fanOut(rotate(), deps, log, 'message-2')]);
    assert.deepEqual(deps.keys.rotations, ['cmk']);
    const claimed = log.lines.filter((l) => l.event === 'key.rotation-claimed');
    assert.deepEqual(claimed.map((l) => [l.fields.version, l.fields.holder]), [[expiringV2.version, 'fan-00000001/message-1']]);
    // Only the copy that rotated queued jobs, each with the new version: the other copy's (the same job ids) could
    // have ended them on the expiring version before it was replaced.
    const rotated = deps.keys.versions.at(-1)?.version;
    assert.deepEqual(rebinds(deps).map((j) => j.targetVersion), [rotated, rotated, rotated]);
    assert.deepEqual(log.lines.filter((l) => l.event === 'fan-out.done').map((l) => l.fields.queued).sort(), [0, 3]);
    // The copy that found it claimed runs again once the claim has expired, to bind what was made.
    assert.deepEqual(fanOutsQueued(deps), [{ job: { ...rotate(), afterClaim: true }, delaySeconds: ROTATION_CLAIM_MS / 1000 + 30 }]);
    const [again] = fanOutsQueued(deps);
    deps.queue.jobs.length = 0;
    await fanOut(again!.job, deps, log, 'message-3');
    assert.deepEqual([deps.keys.rotations, rebinds(deps).map((j) => j.targetVersion)], [['cmk'], [rotated, rotated, rotated]], 'binds the version made, rotates nothing');
  });

  it('the copy queued again after a claim whose holder never rotated rotates once the claim has expired; it is not queued a third time', async () => {
    const clock = fixedClock(now.toISOString());
    const deps = estateDeps({ clock });
    deps.keys.add(v1, expiringV2);
    deps.accounts.put(boundAccount('a1', expiringV2.version));
    const rotateKey = deps.keys.rotateKey.bind(deps.keys);
    deps.keys.rotateKey = async () => Promise.reject(new DependencyError('ServiceUnavailable', 'Key Vault is unavailable', { retryable: true, statusCode: 503, dependency: 'key-vault' }));
    // The holder's message fails; the other copy finds the rotation claimed and queues itself again.
    await assert.rejects(fanOut(rotate(), deps, silentLogger(), 'message-1'), /Key Vault is unavailable/);
    const log = silentLogger();
    await fanOut(rotate(), deps, log, 'message-2');
    const [again] = fanOutsQueued(deps);
    assert.ok(again?.job.afterClaim);
    const sent = JSON.parse(JSON.stringify(again.job)) as unknown;
    assert.deepEqual(parseJob(sent), { ok: true, job: sent }, 'the worker takes the job queued again');
    assert.equal(log.lines.find((l) => l.event === 'key.rotation-claimed')?.fields.againInSeconds, ROTATION_CLAIM_MS / 1000 + 30);
    // The holder's message is delivered again and fails again, until the host moves it to the poison queue: its
    // claim does not move, so the copy is not outwaited.
    for (let delivery = 2; delivery <= 5; delivery++) {
      clock.set(new Date(now.getTime() + delivery * 30_000).toISOString());
      await assert.rejects(fanOut(rotate(), deps, silentLogger(), 'message-1'), /Key Vault is unavailable/);
    }
    deps.keys.rotateKey = rotateKey;
    clock.set(new Date(now.getTime() + ROTATION_CLAIM_MS + 30_000).toISOString());
    deps.queue.jobs.length = 0;
    await fanOut(again.job, deps, silentLogger(), 'message-3');
    const made = deps.keys.versions.at(-1)?.version;
    assert.deepEqual([deps.keys.rotations, rebinds(deps).map((j) => j.targetVersion)], [['cmk'], [made]]);

    // Claimed again by someone else when it comes: it stops, and says so at warning level.
    const held = estateDeps({ clock });
    held.keys.add(v1, expiringV2);
    held.accounts.put(boundAccount('a1', expiringV2.version));
    await held.rotationClaims.claim(VAULT, 'cmk', expiringV2.version, 'sweep-9', ROTATION_CLAIM_MS);
    const last = silentLogger();
    await fanOut(again.job, held, last, 'message-4');
    assert.deepEqual([held.keys.rotations, held.queue.jobs.length], [[], 0]);
    const abandoned = last.lines.find((l) => l.event === 'key.rotation-abandoned');
    assert.deepEqual([abandoned?.fields.holder, abandoned?.level], ['sweep-9', 'warn']);
  });

  it('does not rotate when the newer current version is not usable for a reason a rotation copies (its size): a retry rotates nothing either', async () => {
    const deps = estateDeps();
    deps.keys.add(v1, expiringV2, keyVersion(hex(4), { createdOn: new Date('2026-05-01T00:00:00Z'), keySize: 3072 }));
    deps.accounts.put(boundAccount('a1', expiringV2.version));
    const log = silentLogger();
    await fanOut(rotate(), deps, log);
    deps.rotationClaims.claims.clear();
    await fanOut(rotate(), deps, log);
    assert.deepEqual(deps.keys.rotations, []);
    const reasons = log.lines.filter((l) => l.event === 'key.not-rotated').map((l) => l.fields.reason);
    assert.deepEqual(reasons, Array(2).fill(`its current version ${hex(4)}, newer than ${expiringV2.version}, is not usable (unsupported-key-size), and a rotation would make another like it`));
  });

  it('re-reads the expiring version: one whose expiry was moved past the event\'s and NEAR_EXPIRY_DAYS, or removed, is not rotated', async () => {
    const stated = new Date(now.getTime() + 10 * DAY);
    const cases: Array<[string, Date | undefined, string[]]> = [
      ['the expiry the event stated', stated, ['cmk']],
      ['an expiry moved a year on since the event', new Date(now.getTime() + 365 * DAY), []],
      ['no expiry any more', undefined, []],
    ];
    for (const [what, expiresOn, rotations] of cases) {
      const deps = estateDeps();
      deps.keys.add(v1, keyVersion(hex(2), { createdOn: new Date('2026-03-01T00:00:00Z'), ...(expiresOn ? { expiresOn } : {}) }));
      deps.accounts.put(boundAccount('a1', v2.version));
      const log = silentLogger();
      await fanOut(rotate({ eventExpiresOn: stated.toISOString() }), deps, log);
      assert.deepEqual(deps.keys.rotations, rotations, what);
      if (!rotations.length) {
        assert.ok(log.lines.some((l) => l.event === 'key.not-rotated' && l.fields.version === v2.version), what);
        assert.deepEqual(rebinds(deps).map((j) => j.targetVersion), [undefined], `${what}: the bindings follow the newest usable version`);
      }
    }
  });

  it('does not rotate a version younger than NEAR_EXPIRY_DAYS (its successor would be near expiry too): rebinds to the newest usable', async () => {
    const young = keyVersion(hex(3), { createdOn: new Date(now.getTime() - 5 * DAY), expiresOn: new Date(now.getTime() + 10 * DAY) });
    const deps = estate([boundAccount('a1', young.version)]);
    deps.keys.add(young);
    const log = silentLogger();
    await fanOut(rotate({ eventVersion: young.version }), deps, log);
    assert.deepEqual(deps.keys.rotations, []);
    assert.ok(log.lines.some((l) => l.event === 'key.not-rotated' && l.fields.version === young.version));
    assert.deepEqual(rebinds(deps).map((j) => j.targetVersion), [undefined]);
  });
});

describe('fan-out of an expiry event for scopes found through the scope index', () => {
  it('judges each scope as ARM has it now, not as the last sweep indexed it: a scope rebound since, or deleted, gets no finding', async () => {
    const expired = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z'), expiresOn: new Date(now.getTime() - DAY) });
    const deps = estate([boundAccount('a1', v2.version, { keySource: undefined as never, binding: undefined as never })]);
    deps.keys.add(expired);
    // The last sweep saw p1 and p2 on the expiring version; p1 was rebound to v2 since, and p2 deleted.
    deps.accounts.putScope(boundScope('a1', 'p1', v2.version), boundScope('a1', 'p3', expired.version));
    const indexed = ['p1', 'p2', 'p3'].map((name) => ({ accountId: accountId('a1'), tags: {}, scope: boundScope('a1', name, expired.version) }));
    deps.discovery = new ScopedDiscovery(new ArmAccounts(deps.accounts, [SUB]), { lister: deps.accounts, index: { boundTo: async () => indexed } }) as never;
    const log = silentLogger();
    await fanOut(event({ action: 'expired', targetVersion: undefined, eventVersion: expired.version }), deps, log);
    assert.deepEqual((await deps.findings.list()).map((f) => [f.encryptionScope, f.code, f.evidence['boundVersion']]), [['p3', 'key-expired', expired.version]]);
    assert.deepEqual(log.lines.filter((l) => l.event === 'finding.critical').map((l) => l.fields.encryptionScope), ['p3']);
  });
});
