import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runRebind } from '../../shared/usecases/rebind';
import { afterNextJournalRead, armDownAfterFirstRead, boundTo, intentThen429, job, manual, now, otherDeliveryHolds, rowOf, sentButUnconfirmed, unavailable, v1, v2 } from '../support/accountJobKit';
import { boundAccount, fixedClock, hex, keyVersion, silentLogger } from '../support/fakes';

// A retry after an intent: what the account shows decides the row, whatever the job would decide now (pins: accountJobPins.test.ts).

/**
 * Two deliveries of one job: once the next one has read the journal, the other runs to its end (succeeded), and
 * `then` changes the estate, before the next one reads the account.
 */
function otherDeliveryFirst(deps: ReturnType<typeof boundTo>, delivered: ReturnType<typeof job>, then = (): unknown => undefined): void {
  afterNextJournalRead(deps, async () => {
    const other = await runRebind(delivered, 1, deps, silentLogger());
    assert.equal(other.outcome === 'recorded' && other.record.status, 'succeeded');
    then();
  });
}

describe('rule 6: a retry after an intent', () => {
  it('records succeeded when it finds the account on the target, even if the version was disabled since', async () => {
    const deps = boundTo(v1.version);
    await sentButUnconfirmed(deps);
    deps.keys.versions.splice(deps.keys.versions.indexOf(v2), 1, { ...v2, enabled: false });
    const retry = await runRebind({ ...job(), priorAttempts: 1 }, 1, deps, silentLogger());
    assert.equal(retry.outcome === 'recorded' && retry.record.status, 'succeeded');
    assert.deepEqual([rowOf(deps)?.fromVersion, rowOf(deps)?.toVersion], [v1.version, v2.version]);
    assert.equal(deps.accounts.patches.length, 1);
  });

  it('keeps the binding lag of a rebind verified on its retry (the slow tail cmk.binding.lag is there to show)', async () => {
    const deps = boundTo(v1.version);
    await sentButUnconfirmed(deps);
    const log = silentLogger();
    await runRebind({ ...job(), priorAttempts: 1 }, 1, deps, log);
    const finished = log.lines.find((l) => l.event === 'rotation.finished');
    assert.equal(finished?.fields.status, 'succeeded');
    assert.equal(typeof finished?.fields.bindingLagSeconds, 'number', JSON.stringify(finished?.fields));
  });

  it('does not record succeeded for an account on the target whose provisioningState is Failed', async () => {
    const deps = boundTo(v1.version);
    await sentButUnconfirmed(deps);
    deps.accounts.put(boundAccount('a1', v2.version, { provisioningState: 'Failed' }));
    const retry = await runRebind({ ...job(), priorAttempts: 1 }, 1, deps, silentLogger());
    assert.notEqual(retry.outcome === 'recorded' && retry.record.status, 'succeeded');
    assert.match(rowOf(deps)?.reason ?? '', /after the update sent on attempt 1, the account reports the change but provisioningState Failed/);
  });

  it('that finds the account on the target but Failed neither finishes the job nor releases a pin: the last attempt reports it unknown', async () => {
    const deps = boundTo(v1.version);
    const rotation = manual({ targetVersion: v2.version });
    await deps.pins.set({ accountId: job().accountId, keyVersion: v1.version, actor: 'bob', reason: 'hold', pinnedAt: now.toISOString(), jobId: 'job-hold' });
    await sentButUnconfirmed(deps, rotation);
    deps.accounts.put(boundAccount('a1', v2.version, { provisioningState: 'Failed' }));
    const retry = await runRebind({ ...rotation, priorAttempts: 1 }, 1, deps, silentLogger());
    assert.equal(retry.outcome, 'deferred');
    assert.equal(rowOf(deps, rotation.jobId)?.status, 'running');
    assert.equal((await deps.pins.get(job().accountId))?.keyVersion, v1.version);
    const last = await runRebind({ ...rotation, priorAttempts: 4 }, 1, deps, silentLogger());
    assert.equal(last.outcome === 'recorded' && last.record.status, 'running');
    assert.match(rowOf(deps, rotation.jobId)?.reason ?? '', /^outcome unknown: .*provisioningState Failed/);
    assert.equal((await deps.pins.get(job().accountId))?.keyVersion, v1.version);
  });

  it('keeps where the job started: an attempt that finds the account busy on the target does not rewrite fromVersion', async () => {
    const deps = boundTo(v1.version);
    deps.accounts.afterPatch = (a, change) => ({ ...a, binding: change.binding, provisioningState: 'Accepted' });
    await runRebind(job(), 1, deps, silentLogger());
    // Attempt 2 finds the account on v2, still Accepted: it waits, and writes its row.
    await runRebind({ ...job(), priorAttempts: 1 }, 1, deps, silentLogger());
    assert.equal(rowOf(deps)?.status, 'running');
    deps.accounts.put(boundAccount('a1', v2.version));
    const last = await runRebind({ ...job(), priorAttempts: 2 }, 1, deps, silentLogger());
    assert.equal(last.outcome === 'recorded' && last.record.status, 'succeeded');
    assert.deepEqual([rowOf(deps)?.fromVersion, rowOf(deps)?.toVersion], [v1.version, v2.version]);
  });

  it('does not claim the earlier update when another job moved the account elsewhere meanwhile', async () => {
    // A person's rotation without keyVersion aims at v2; before its retry v3 is made and bound by another job.
    const deps = boundTo(v1.version);
    const first = manual({ targetVersion: undefined });
    await intentThen429(deps, first);
    assert.equal(rowOf(deps, first.jobId)?.toVersion, v2.version);
    const v3 = keyVersion(hex(3), { createdOn: new Date('2026-05-01T00:00:00Z') });
    deps.keys.add(v3);
    deps.accounts.put(boundAccount('a1', v3.version));
    const retry = await runRebind({ ...first, priorAttempts: 1 }, 1, deps, silentLogger());
    assert.equal(retry.outcome === 'recorded' && retry.record.status, 'already-current');
    assert.match(rowOf(deps, first.jobId)?.reason ?? '', new RegExp(`after the update sent on attempt 1, the account reports key version ${v3.version}, not ${v2.version}`));
  });
});

describe('the last attempt', () => {
  it('that cannot plan (Key Vault down) judges the earlier update by the account it read: settled without it is failed', async () => {
    const deps = boundTo(v1.version);
    await intentThen429(deps);
    deps.keys.getKeyVersion = async () => {
      throw unavailable('Key Vault is down');
    };
    const last = await runRebind({ ...job(), priorAttempts: 4 }, 1, deps, silentLogger());
    assert.equal(last.outcome === 'recorded' && last.record.status, 'failed');
    assert.match(rowOf(deps)?.reason ?? '', new RegExp(`settled without the change \\(the account reports key version ${v1.version}, not ${v2.version}\\)`));
  });

  it('that finds the lease held waits it out (rule 7): not an attempt, and the update in flight is judged by nobody else', async () => {
    const deps = boundTo(v1.version);
    await intentThen429(deps);
    deps.queue.jobs.splice(0);
    otherDeliveryHolds(deps);
    const last = await runRebind({ ...job(), priorAttempts: 4 }, 1, deps, silentLogger());
    assert.equal(last.outcome, 'deferred');
    assert.equal(rowOf(deps)?.status, 'running');
    const again = deps.queue.jobs[0];
    assert.deepEqual([again?.job.kind === 'rebind' && again.job.priorAttempts, again?.delaySeconds], [4, 20], 'the same attempt, after the lease expires');
  });

  it('that cannot plan while another delivery holds the lease waits it out: no verdict, and a forced pin stays', async () => {
    const deps = boundTo(v2.version);
    const rollback = manual({ targetVersion: v1.version, force: true });
    await intentThen429(deps, rollback);
    deps.queue.jobs.splice(0);
    // The other delivery's PATCH is in flight: the account, read now, does not show it yet.
    otherDeliveryHolds(deps, rollback.jobId);
    deps.keys.getKeyVersion = async () => {
      throw unavailable('Key Vault is down');
    };
    const last = await runRebind({ ...rollback, priorAttempts: 4 }, 1, deps, silentLogger());
    assert.equal(last.outcome, 'deferred');
    assert.equal(rowOf(deps, rollback.jobId)?.status, 'running');
    assert.equal((await deps.pins.get(job().accountId))?.keyVersion, v1.version);
    const again = deps.queue.jobs[0];
    assert.deepEqual([again?.job.kind === 'rebind' && again.job.priorAttempts, again?.delaySeconds], [4, 20]);
  });

  it('that finds its update on the account, but the account Failed, records no verdict: the account did move', async () => {
    const deps = boundTo(v1.version);
    deps.accounts.afterPatch = (a, change) => ({ ...a, binding: change.binding, provisioningState: 'Failed' });
    const last = await runRebind({ ...job(), priorAttempts: 4 }, 1, deps, silentLogger());
    assert.equal(last.outcome === 'recorded' && last.record.status, 'running');
    assert.equal(rowOf(deps)?.reason, 'outcome unknown: gave up after 5 attempts: the account reports the change but provisioningState Failed', 'said once');
  });

  it('that reads a live lease, and fails to plan after the lease would have expired, still records no verdict', async () => {
    const deps = boundTo(v1.version);
    await intentThen429(deps);
    deps.queue.jobs.splice(0);
    // Another delivery holds the lease, 20 s left as this attempt reads it; Key Vault answers 25 s later, with an error.
    otherDeliveryHolds(deps);
    // (The key is read while the journal and the account are: its answer waits for them.)
    let accountRead!: () => void;
    const read = new Promise<void>((resolve) => (accountRead = resolve));
    const getAccount = deps.accounts.getAccount.bind(deps.accounts);
    deps.accounts.getAccount = async (id) => getAccount(id).finally(accountRead);
    deps.keys.getKeyVersion = async () => {
      await read;
      (deps.clock as ReturnType<typeof fixedClock>).advance(25_000);
      throw unavailable('Key Vault is down');
    };
    const last = await runRebind({ ...job(), priorAttempts: 4 }, 1, deps, silentLogger());
    assert.equal(last.outcome, 'deferred');
    assert.equal(rowOf(deps)?.status, 'running');
    const again = deps.queue.jobs[0];
    assert.deepEqual([again?.job.kind === 'rebind' && again.job.priorAttempts, again?.delaySeconds], [4, 0], 'read again at once, as the same attempt');
  });

  it("that cannot plan, finding a plain manual rotation's earlier update applied, records succeeded and releases the pin", async () => {
    const deps = boundTo(v1.version);
    const rotation = manual({ targetVersion: v2.version });
    await deps.pins.set({ accountId: job().accountId, keyVersion: v1.version, actor: 'bob', reason: 'hold', pinnedAt: now.toISOString(), jobId: 'job-hold' });
    await sentButUnconfirmed(deps, rotation);
    deps.keys.getKeyVersion = async () => {
      throw unavailable('Key Vault is down');
    };
    const last = await runRebind({ ...rotation, priorAttempts: 4 }, 1, deps, silentLogger());
    assert.equal(last.outcome === 'recorded' && last.record.status, 'succeeded');
    assert.equal(await deps.pins.get(job().accountId), undefined);
    assert.match(rowOf(deps, rotation.jobId)?.reason ?? '', /released the pin to/);
  });
});

describe('rule 8: a duplicate delivery of the same job', () => {
  it('that read the journal before the other finished writes nothing over its row', async () => {
    const deps = boundTo(v1.version);
    otherDeliveryFirst(deps, job());
    const log = silentLogger();
    const late = await runRebind(job(), 1, deps, log);
    assert.equal(late.outcome, 'deferred');
    assert.equal(rowOf(deps)?.status, 'succeeded');
    assert.match(rowOf(deps)?.reason ?? '', /^verified/);
    assert.equal(deps.accounts.patches.length, 1);
    assert.ok(log.lines.some((l) => l.event === 'job.superseded'));
  });
});

describe('a deferral', () => {
  it('is written before its retry is queued: a retry that starts at once reads it, and its verdict lands', async () => {
    const deps = boundTo(v1.version, { provisioningState: 'Accepted' });
    // The retry's message is taken as soon as it is queued; it reads the journal and runs on while attempt 1 ends.
    let retried: Promise<unknown> | undefined;
    const enqueue = deps.queue.enqueue.bind(deps.queue);
    deps.queue.enqueue = async (queued, options) => {
      await enqueue(queued, options);
      if (retried || queued.kind !== 'rebind') return;
      deps.queue.jobs.splice(0);
      deps.accounts.put(boundAccount('a1', v2.version));
      let attempt1Done!: () => void;
      const done = new Promise<void>((resolve) => (attempt1Done = resolve));
      afterNextJournalRead(deps, () => done);
      retried = runRebind(queued, 1, deps, silentLogger());
      setImmediate(attempt1Done);
    };
    const first = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(first.outcome, 'deferred');
    const retry = await retried;
    assert.equal(rowOf(deps)?.status, 'already-current', 'the retry recorded its verdict');
    assert.deepEqual([retry && typeof retry === 'object' && 'outcome' in retry && retry.outcome, deps.queue.jobs.length], ['recorded', 0]);
  });
});

describe('writes without the lease', () => {
  it('a job that loses its lease during the PATCH still records its verified outcome', async () => {
    const deps = boundTo(v1.version);
    deps.leaseTtlMs = 30;
    // Another job takes the lease over (this one seemed dead to it).
    deps.journal.renew = async () => {
      deps.journal.leases.set(job().accountId.toLowerCase(), { holder: 'other:1', expiresAt: new Date(now.getTime() + 60_000).toISOString(), etag: 'taken' });
      return undefined;
    };
    const patch = deps.accounts.updateEncryption.bind(deps.accounts);
    deps.accounts.updateEncryption = async (id, change) => {
      await new Promise((resolve) => setTimeout(resolve, 40));
      return patch(id, change);
    };
    const log = silentLogger();
    const result = await runRebind(job(), 1, deps, log);
    assert.equal(result.outcome === 'recorded' && result.record.status, 'succeeded');
    assert.equal(rowOf(deps)?.status, 'succeeded');
    assert.ok(log.lines.some((l) => l.event === 'lease.lost'));
  });

  it('ARM down on the account read: each attempt writes its row, and the last says failed (nothing was sent)', async () => {
    const deps = boundTo(v1.version, { provisioningState: 'Accepted' });
    await runRebind(job(), 1, deps, silentLogger());
    assert.equal(rowOf(deps)?.status, 'queued', 'attempt 1 waited for the busy account');
    deps.accounts.getAccount = async () => {
      throw unavailable('ARM is down');
    };
    const second = await runRebind({ ...job(), priorAttempts: 1 }, 1, deps, silentLogger());
    assert.equal(second.outcome, 'deferred');
    assert.match(rowOf(deps)?.reason ?? '', /^attempt 2: .*ARM is down/);
    const last = await runRebind({ ...job(), priorAttempts: 4 }, 1, deps, silentLogger());
    assert.equal(last.outcome === 'recorded' && last.record.status, 'failed');
    assert.match(rowOf(deps)?.reason ?? '', /no update was sent/);
  });

  it("the last attempt's own PATCH, unread, is not judged by the account it read before sending it", async () => {
    const deps = boundTo(v1.version);
    await intentThen429(deps);
    armDownAfterFirstRead(deps);
    const last = await runRebind({ ...job(), priorAttempts: 4 }, 1, deps, silentLogger());
    assert.equal(last.outcome === 'recorded' && last.record.status, 'running');
    assert.match(rowOf(deps)?.reason ?? '', /^outcome unknown/);
  });

  it('a superseded delivery of a forced rollback leaves the pin the other set', async () => {
    const deps = boundTo(v2.version);
    const rollback = manual({ targetVersion: v1.version, force: true });
    // v1 disabled since: this late delivery would refuse it, and take back the pin, were its row its own.
    otherDeliveryFirst(deps, rollback, () => deps.keys.versions.splice(deps.keys.versions.indexOf(v1), 1, { ...v1, enabled: false }));
    const late = await runRebind(rollback, 1, deps, silentLogger());
    assert.equal(late.outcome, 'deferred');
    assert.equal((await deps.pins.get(job().accountId))?.keyVersion, v1.version);
    assert.equal(rowOf(deps, rollback.jobId)?.status, 'succeeded');
  });
});
