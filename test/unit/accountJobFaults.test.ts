import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runRebind } from '../../shared/usecases/rebind';
import { afterNextJournalRead, armDownAfterFirstRead, boundTo, intentThen429, job, manual, now, rowOf, unavailable, v1, v2 } from '../support/accountJobKit';
import { hex, keyVersion, silentLogger } from '../support/fakes';

// Storage and ARM failing at each step of a job: every outcome is recorded, or the job comes back; none is made up.

/** Attempt 1 writes its intent; its PATCH is refused (429, not applied): the row is running, the account unmoved. */
/** begin() commits, and then `answer` is what the attempt hears back (a throw: its answer lost). */
function beginCommitsThen(deps: ReturnType<typeof boundTo>, answer: () => Promise<undefined>): void {
  const begin = deps.journal.begin.bind(deps.journal);
  deps.journal.begin = async (...args) => {
    await begin(...args);
    return answer();
  };
}

/** Attempt 1 (no target version: the newest, v2) is applied but not read back; v3 is made; the retry records succeeded. */
async function appliedThenNewerVersion(deps: ReturnType<typeof boundTo>, first: ReturnType<typeof job>): Promise<void> {
  const armBack = armDownAfterFirstRead(deps);
  await runRebind(first, 1, deps, silentLogger());
  armBack();
  deps.keys.add(keyVersion(hex(3), { createdOn: new Date('2026-05-01T00:00:00Z') }));
  const retry = await runRebind({ ...first, priorAttempts: 1 }, 1, deps, silentLogger());
  assert.equal(retry.outcome === 'recorded' && retry.record.status, 'succeeded');
}

describe('a job under storage and ARM faults', () => {
  it('whose journal cannot be read on its last attempt lets the error go up, never recording failed over a sent update', async () => {
    const deps = boundTo(v1.version);
    await intentThen429(deps);
    deps.journal.open = async () => {
      throw unavailable('Table Storage is down');
    };
    await assert.rejects(runRebind({ ...job(), priorAttempts: 4 }, 1, deps, silentLogger()), /Table Storage is down/);
    assert.equal(rowOf(deps)?.status, 'running');
  });

  it('defers a decision while another delivery of the job holds the lease (its update in flight)', async () => {
    const deps = boundTo(v2.version);
    deps.journal.leases.set(job().accountId.toLowerCase(), { holder: `${job().jobId}:other`, expiresAt: new Date(now.getTime() + 20_000).toISOString(), etag: 'x' });
    const result = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(result.outcome, 'deferred');
    assert.equal(rowOf(deps)?.status, 'queued');
  });

  it('whose intent transaction committed but whose answer was lost releases the lease, and on its last attempt says nothing was sent', async () => {
    const deps = boundTo(v1.version);
    beginCommitsThen(deps, async () => {
      throw unavailable('connection reset after the transaction');
    });
    const last = await runRebind({ ...job(), priorAttempts: 4 }, 1, deps, silentLogger());
    assert.equal(last.outcome === 'recorded' && last.record.status, 'failed');
    assert.match(rowOf(deps)?.reason ?? '', /no update was sent/);
    assert.equal(deps.journal.leases.get(job().accountId.toLowerCase())?.holder, '', 'the lease is released');
    assert.equal(deps.accounts.patches.length, 0);
  });

  it('a forced rollback whose pin cannot be written with its intent sends nothing, and its last attempt takes the pin back', async () => {
    const deps = boundTo(v2.version);
    const set = deps.pins.set.bind(deps.pins);
    deps.pins.set = async (pin) => {
      await set(pin);
      throw unavailable('the Pins table is down');
    };
    const rollback = manual({ targetVersion: v1.version, force: true, priorAttempts: 4 });
    const last = await runRebind(rollback, 1, deps, silentLogger());
    assert.equal(last.outcome === 'recorded' && last.record.status, 'failed');
    assert.match(rowOf(deps, rollback.jobId)?.reason ?? '', /no update was sent/);
    assert.equal(await deps.pins.get(job().accountId), undefined);
    assert.equal(deps.accounts.patches.length, 0);
  });

  it('whose pin cannot be updated with its outcome comes back to do it, the row not final until then', async () => {
    const deps = boundTo(v2.version);
    deps.accounts.verdict = () => ({ status: 'failed', code: 'KeyVaultAccessForbidden', message: 'no' });
    const release = deps.pins.release.bind(deps.pins);
    let failing = true;
    deps.pins.release = async (...args) => {
      if (failing) throw unavailable('the Pins table is down');
      return release(...args);
    };
    const rollback = manual({ targetVersion: v1.version, force: true });
    const first = await runRebind(rollback, 1, deps, silentLogger());
    assert.equal(first.outcome, 'deferred');
    assert.equal(rowOf(deps, rollback.jobId)?.status, 'running');
    failing = false;
    deps.accounts.verdict = () => ({ status: 'succeeded' });
    const retry = await runRebind({ ...rollback, priorAttempts: 1 }, 1, deps, silentLogger());
    assert.equal(retry.outcome === 'recorded' && retry.record.status, 'succeeded');
    assert.equal((await deps.pins.get(job().accountId))?.keyVersion, v1.version);
  });

  it('stops renewing its lease when a bug ends it mid-update', async () => {
    const deps = boundTo(v1.version);
    deps.leaseTtlMs = 30;
    let renewals = 0;
    const renew = deps.journal.renew.bind(deps.journal);
    deps.journal.renew = async (...args) => {
      renewals += 1;
      return renew(...args);
    };
    deps.accounts.updateEncryption = async () => {
      await new Promise((resolve) => setTimeout(resolve, 25));
      throw new TypeError('a bug');
    };
    await assert.rejects(runRebind(job(), 1, deps, silentLogger()), /a bug/);
    const after = renewals;
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(renewals, after);
  });

  it('a journal read that fails on the last attempt after a sent update goes up to the host, never nothing sent', async () => {
    const deps = boundTo(v1.version);
    await intentThen429(deps);
    const open = deps.journal.open.bind(deps.journal);
    let once = true;
    deps.journal.open = async (...args) => {
      if (once) {
        once = false;
        throw unavailable('Table Storage blinked');
      }
      return open(...args);
    };
    await assert.rejects(runRebind({ ...job(), priorAttempts: 4 }, 1, deps, silentLogger()), /Table Storage blinked/);
    assert.doesNotMatch(rowOf(deps)?.reason ?? '', /no update was sent/);
    assert.equal(rowOf(deps)?.status, 'running');
  });

  it('changes no pin from a stale read: a forced job that finds another job took the lease since comes back', async () => {
    const deps = boundTo(v1.version);
    const hold = manual({ targetVersion: v1.version, force: true });
    const getVersion = deps.keys.getKeyVersion.bind(deps.keys);
    deps.keys.getKeyVersion = async (...args) => {
      // While this job plans, an event job takes the lease (and will move the account on).
      deps.journal.leases.set(job().accountId.toLowerCase(), { holder: 'event-job:1', expiresAt: new Date(now.getTime() + 20_000).toISOString(), etag: 'taken' });
      return getVersion(...args);
    };
    const result = await runRebind(hold, 1, deps, silentLogger());
    assert.equal(result.outcome, 'deferred');
    assert.equal(await deps.pins.get(job().accountId), undefined);
  });

  it("another delivery's intent does not overwrite a final row written since its journal read", async () => {
    const deps = boundTo(v1.version);
    afterNextJournalRead(deps, async () => {
      // The other delivery, on its last attempt, ends failed without the lease (Key Vault down).
      const getVersion = deps.keys.getKeyVersion.bind(deps.keys);
      deps.keys.getKeyVersion = async () => {
        throw unavailable('Key Vault is down');
      };
      await runRebind({ ...job(), priorAttempts: 4 }, 1, deps, silentLogger());
      deps.keys.getKeyVersion = getVersion;
      assert.equal(rowOf(deps)?.status, 'failed');
    });
    const late = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(late.outcome, 'deferred');
    assert.equal(rowOf(deps)?.status, 'failed');
    assert.equal(deps.accounts.patches.length, 0);
  });

  it('a retry that finds the account on its earlier target records succeeded rather than move on to a version made since', async () => {
    const deps = boundTo(v1.version);
    const first = manual({ targetVersion: undefined });
    await appliedThenNewerVersion(deps, first);
    assert.deepEqual([rowOf(deps, first.jobId)?.fromVersion, rowOf(deps, first.jobId)?.toVersion], [v1.version, v2.version]);
    assert.equal(deps.accounts.patches.length, 1);
    assert.equal((await deps.accounts.getAccount(job().accountId))?.binding?.keyVersion, v2.version);
  });

  it('an intent whose answer was lost, when the journal cannot be read again, goes up to the host', async () => {
    const deps = boundTo(v1.version);
    beginCommitsThen(deps, async () => {
      deps.journal.open = async () => {
        throw unavailable('Table Storage is down');
      };
      throw unavailable('connection reset after the transaction');
    });
    await assert.rejects(runRebind({ ...job(), priorAttempts: 4 }, 1, deps, silentLogger()), /Table Storage is down/);
    assert.equal(deps.accounts.patches.length, 0);
  });

  it('a pin that cannot be updated on the last attempt goes up to the host, the row not final', async () => {
    const deps = boundTo(v1.version);
    await deps.pins.set({ accountId: job().accountId, keyVersion: v1.version, actor: 'bob', reason: 'hold', pinnedAt: now.toISOString(), jobId: 'job-rollback' });
    deps.pins.release = async () => {
      throw unavailable('the Pins table is down');
    };
    const plain = manual({ targetVersion: v2.version, priorAttempts: 4 });
    await assert.rejects(runRebind(plain, 1, deps, silentLogger()), /the Pins table is down/);
    assert.notEqual(rowOf(deps, plain.jobId)?.status, 'succeeded');
    assert.equal((await deps.accounts.getAccount(job().accountId))?.binding?.keyVersion, v2.version, 'the account moved; its row waits for the pin');
  });

  it('an error that goes up to the host while the job holds the lease releases it: the next delivery is an attempt, not a wait', async () => {
    const deps = boundTo(v2.version);
    deps.accounts.verdict = () => ({ status: 'failed', code: 'KeyVaultAccessForbidden', message: 'no' });
    deps.pins.release = async () => {
      throw unavailable('the Pins table is down');
    };
    const rollback = manual({ targetVersion: v1.version, force: true, priorAttempts: 4 });
    await assert.rejects(runRebind(rollback, 1, deps, silentLogger()), /the Pins table is down/);
    assert.equal(deps.journal.leases.get(job().accountId.toLowerCase())?.holder, '', 'the lease is released');
    assert.equal(rowOf(deps, rollback.jobId)?.status, 'running');
  });

  it('a forced rebind without a version whose earlier update is found done pins the version it put the account on', async () => {
    const deps = boundTo(v1.version);
    await appliedThenNewerVersion(deps, manual({ targetVersion: undefined, force: true }));
    assert.equal((await deps.pins.get(job().accountId))?.keyVersion, v2.version);
  });

  it('a bug after the lease was renewed still releases it (as last renewed) on the way up', async () => {
    const deps = boundTo(v1.version);
    deps.leaseTtlMs = 30;
    deps.accounts.updateEncryption = async () => {
      await new Promise((resolve) => setTimeout(resolve, 45));
      throw new TypeError('a bug');
    };
    await assert.rejects(runRebind(job(), 1, deps, silentLogger()), /a bug/);
    assert.equal(deps.journal.leases.get(job().accountId.toLowerCase())?.holder, '');
  });

  it('an outcome whose write committed without an answer is not written over on the way up', async () => {
    const deps = boundTo(v1.version);
    const finish = deps.journal.finish.bind(deps.journal);
    deps.journal.finish = async (...args) => {
      await finish(...args);
      throw unavailable('connection reset after the transaction');
    };
    await assert.rejects(runRebind(job(), 1, deps, silentLogger()), /connection reset/);
    assert.equal(rowOf(deps)?.status, 'succeeded');
    const again = await runRebind(job(), 2, deps, silentLogger());
    assert.equal(again.outcome, 'already-finished');
    assert.equal(deps.accounts.patches.length, 1);
  });

  it('delivered by the host past its last attempt, a job sends no further PATCH', async () => {
    const deps = boundTo(v1.version);
    const result = await runRebind({ ...job(), priorAttempts: 5 }, 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'failed');
    assert.equal(deps.accounts.patches.length, 0);
  });

  it('a rollback pin set by a decision without a PATCH is taken under the lease: a job that read the journal before it cannot act on that read', async () => {
    const deps = boundTo(v1.version);
    const rollback = manual({ targetVersion: v1.version, force: true, reason: 'v2 breaks fine-tuning' });
    afterNextJournalRead(deps, async () => {
      const held = await runRebind(rollback, 1, deps, silentLogger());
      assert.equal(held.outcome === 'recorded' && held.record.status, 'already-current');
    });
    const event = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(event.outcome, 'deferred');
    assert.equal(deps.accounts.patches.length, 0);
    const again = await runRebind({ ...job(), priorAttempts: 1 }, 1, deps, silentLogger());
    assert.match(again.outcome === 'recorded' ? (again.record.reason ?? '') : '', /^pinned by alice@contoso.com to/);
    assert.equal(deps.accounts.patches.length, 0);
  });

  it('a last attempt that could not read the account after an earlier update leaves it to the next delivery, not to outcome unknown', async () => {
    const deps = boundTo(v1.version);
    await intentThen429(deps);
    const get = deps.accounts.getAccount.bind(deps.accounts);
    deps.accounts.getAccount = async () => {
      deps.accounts.getAccount = get;
      throw unavailable('ARM blinked');
    };
    await assert.rejects(runRebind({ ...job(), priorAttempts: 4 }, 1, deps, silentLogger()), /ARM blinked/);
    assert.doesNotMatch(rowOf(deps)?.reason ?? '', /outcome unknown/);
    const next = await runRebind({ ...job(), priorAttempts: 4 }, 2, deps, silentLogger());
    assert.equal(next.outcome === 'recorded' && next.record.status, 'failed');
    assert.match(rowOf(deps)?.reason ?? '', /settled without the change/);
    assert.equal(deps.accounts.patches.length, 0, 'no PATCH past the last attempt');
  });

  it('a forced job that ends without its account takes its pin back only under a lease it can take, never over a live one', async () => {
    const deps = boundTo(v1.version);
    deps.accounts.accounts.clear();
    deps.journal.leases.set(job().accountId.toLowerCase(), { holder: 'event-job:1', expiresAt: new Date(now.getTime() + 20_000).toISOString(), etag: 'live' });
    const result = await runRebind(manual({ targetVersion: v1.version, force: true }), 1, deps, silentLogger());
    assert.equal(result.outcome, 'deferred');
    assert.equal(deps.journal.leases.get(job().accountId.toLowerCase())?.holder, 'event-job:1');
  });

  it('a duplicate delivery of a finished forced job, on its last attempt with ARM down, neither rewrites the final row nor takes the pin back', async () => {
    const deps = boundTo(v1.version);
    const rollback = manual({ targetVersion: v1.version, force: true, reason: 'v2 breaks fine-tuning' });
    const first = await runRebind(rollback, 1, deps, silentLogger());
    assert.equal(first.outcome === 'recorded' && first.record.status, 'already-current');
    assert.equal((await deps.pins.get(job().accountId))?.keyVersion, v1.version);
    deps.accounts.getAccount = async () => {
      throw unavailable('ARM is down');
    };
    const duplicate = await runRebind({ ...rollback, priorAttempts: 4 }, 1, deps, silentLogger());
    assert.notEqual(duplicate.outcome === 'recorded' && duplicate.record.status, 'failed');
    assert.equal(rowOf(deps, rollback.jobId)?.status, 'already-current');
    assert.equal((await deps.pins.get(job().accountId))?.keyVersion, v1.version, 'the pin the job set stays');
  });
});
