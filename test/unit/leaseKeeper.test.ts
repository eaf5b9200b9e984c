import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { setImmediate as settle } from 'node:timers/promises';
import { DependencyError } from '../../shared/errors';
import type { AccountJournal, Lease } from '../../shared/ports';
import { LeaseKeeper } from '../../shared/usecases/leaseKeeper';
import { silentLogger } from '../support/fakes';

const lease = { accountId: 'acct', holder: 'job-1', etag: 'e0' } as unknown as Lease;

/** A journal whose renewals answer from `answers` in turn; what it was asked is counted. */
function journal(...answers: Array<Lease | Error>): AccountJournal & { renewals: number } {
  const j = {
    renewals: 0,
    async renew(): Promise<Lease | undefined> {
      const answer = answers[Math.min(j.renewals++, answers.length - 1)];
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return j as unknown as AccountJournal & { renewals: number };
}

/** The stored lease as a re-read finds it: taken by nobody this test knows. */
const nobody = async () => undefined;

async function tick(ms: number, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    mock.timers.tick(ms);
    await settle();
  }
}

describe('LeaseKeeper: a live job keeps its lease, and a bug in renewing it is not hidden', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval'] }));
  afterEach(() => mock.timers.reset());

  it('renews every third of the lease and hands back the last renewal', async () => {
    const renewed = { ...lease, etag: 'e2' } as Lease;
    const j = journal({ ...lease, etag: 'e1' } as Lease, renewed);
    const keeper = new LeaseKeeper(lease, { journal: j, leaseTtlMs: 300 }, silentLogger(), nobody);
    await tick(100, 2);
    assert.equal(j.renewals, 2);
    assert.equal(await keeper.stop(), renewed);
  });

  it('storage trouble is logged and the next renewal tries again', async () => {
    const busy = new DependencyError('ServerBusy', 'renewing the lease: busy', { retryable: true, statusCode: 503, dependency: 'storage' });
    const j = journal(busy, lease);
    const log = silentLogger();
    const keeper = new LeaseKeeper(lease, { journal: j, leaseTtlMs: 300 }, log, nobody);
    await tick(100, 2);
    assert.equal(j.renewals, 2);
    assert.equal(await keeper.stop(), lease);
    assert.deepEqual(log.lines.map((l) => l.event), ['lease.renew-failed']);
  });

  it('a bug stops renewing at once and goes up from stop()', async () => {
    const bug = new TypeError('lease.etag is undefined');
    const j = journal(bug);
    const log = silentLogger();
    const keeper = new LeaseKeeper(lease, { journal: j, leaseTtlMs: 300 }, log, nobody);
    await tick(100, 3);
    assert.equal(j.renewals, 1, 'no renewal after the bug');
    assert.deepEqual(log.lines.map((l) => [l.event, l.fields.error]), [['lease.renew-failed', 'lease.etag is undefined']], 'told when it happened, not only at the end');
    await assert.rejects(keeper.stop(), (thrown) => thrown === bug);
  });

  it('a renewal refused because an earlier one committed without an answer keeps the lease, which is still its own', async () => {
    // The first renewal committed (etag e1) but its answer was lost; the next, with e0, is refused (412).
    const lost = new DependencyError('ECONNRESET', 'renewing the lease: reset', { retryable: true, dependency: 'storage' });
    const j = journal(lost, undefined as unknown as Lease, { ...lease, etag: 'e2' } as Lease);
    const log = silentLogger();
    const keeper = new LeaseKeeper(lease, { journal: j, leaseTtlMs: 300 }, log, async () => ({ holder: 'job-1', etag: 'e1', expiresAt: 'later' }));
    await tick(100, 3);
    assert.equal(j.renewals, 3, 'it went on renewing');
    assert.equal((await keeper.stop())?.etag, 'e2');
    assert.equal(log.lines.some((l) => l.event === 'lease.lost'), false);
  });

  it('a renewal refused because another holder took the lease loses it', async () => {
    const j = journal(undefined as unknown as Lease);
    const log = silentLogger();
    const keeper = new LeaseKeeper(lease, { journal: j, leaseTtlMs: 300 }, log, async () => ({ holder: 'job-2', etag: 'x', expiresAt: 'later' }));
    await tick(100, 2);
    assert.equal(await keeper.stop(), undefined);
    assert.ok(log.lines.some((l) => l.event === 'lease.lost'));
  });
});
