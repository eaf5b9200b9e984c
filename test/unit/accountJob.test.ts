import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DependencyError } from '../../shared/errors';
import { runRebind } from '../../shared/usecases/rebind';
import { armDownAfterFirstRead, boundTo, job, manual, now, rowOf, unavailable, v1, v2 } from '../support/accountJobKit';
import { boundAccount, silentLogger } from '../support/fakes';

// The runner of DESIGN §2 rules 6-7 with in-memory fakes: what the ledger says must be what happened.

// An operation that ends Failed although the account reports the change in the given state.
function failedYetChanged(deps: ReturnType<typeof boundTo>, state: string): void {
  const patch = deps.accounts.updateEncryption.bind(deps.accounts);
  const get = deps.accounts.getAccount.bind(deps.accounts);
  deps.accounts.updateEncryption = async (id, change) => {
    await patch(id, change);
    const account = await get(id);
    if (account) deps.accounts.put({ ...account, provisioningState: state });
    return { status: 'failed', code: 'InternalServerError', message: 'a step after the update failed' };
  };
}

describe('rule 6: intent before action, the outcome from the operation and the read-back', () => {
  it('writes the running row with its intent before the PATCH, and succeeded after reading the account back', async () => {
    const deps = boundTo(v1.version);
    let atPatch: Array<[string, string | undefined]> = [];
    const patch = deps.accounts.updateEncryption.bind(deps.accounts);
    deps.accounts.updateEncryption = async (id, change) => {
      atPatch = deps.journal.writes.map((w) => [w.status, w.intentAt]);
      return patch(id, change);
    };
    const result = await runRebind(job(), 1, deps, silentLogger());
    assert.deepEqual(atPatch, [['running', now.toISOString()]]);
    assert.equal(result.outcome === 'recorded' && result.record.status, 'succeeded');
    assert.deepEqual([rowOf(deps)?.fromVersion, rowOf(deps)?.toVersion, rowOf(deps)?.intentAttempt], [v1.version, v2.version, 1]);
    assert.equal(deps.journal.leases.get(job().accountId.toLowerCase())?.holder, '', 'lease released');
  });

  it('reads the account only once the journal is read: a job finishing in between is seen, not planned over', async () => {
    // Another job moves the account to v2 and releases the lease while this job's journal read is on its way.
    const deps = boundTo(v1.version);
    const open = deps.journal.open.bind(deps.journal);
    deps.journal.open = async (...args) => {
      const state = await open(...args);
      deps.accounts.put(boundAccount('a1', v2.version));
      return state;
    };
    const result = await runRebind(job({ targetVersion: v2.version }), 1, deps, silentLogger());
    assert.equal(deps.accounts.patches.length, 0, 'the account already reports v2: nothing to send');
    assert.equal(result.outcome === 'recorded' && result.record.status, 'already-current');
  });

  it('does not PATCH when the intent cannot be written; the job is re-queued', async () => {
    const deps = boundTo(v1.version);
    deps.journal.begin = async () => {
      throw new DependencyError('ServerBusy', 'Table Storage is busy', { retryable: true, statusCode: 503, dependency: 'storage' });
    };
    const result = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(result.outcome, 'deferred');
    assert.equal(deps.accounts.patches.length, 0);
    assert.equal(deps.queue.jobs[0]?.job.jobId, job().jobId);
    assert.deepEqual([rowOf(deps)?.status, rowOf(deps)?.intentAt], ['queued', undefined], 'no intent was recorded, so none is claimed');
  });

  it('an operation that ends Failed is recorded failed (the account did not move), with the operation\'s error', async () => {
    const deps = boundTo(v1.version);
    deps.accounts.verdict = () => ({ status: 'failed', code: 'KeyVaultAccessForbidden', message: 'identity cannot unwrap' });
    const log = silentLogger();
    const result = await runRebind(job(), 1, deps, log);
    assert.equal(result.outcome === 'recorded' && result.record.status, 'failed');
    assert.match(rowOf(deps)?.reason ?? '', /KeyVaultAccessForbidden/);
    assert.ok(log.lines.some((l) => l.level === 'error' && l.event === 'rotation.finished' && l.fields.status === 'failed'));
    assert.equal(deps.queue.jobs.length, 0, 'not retried');
  });

  it('an operation that ends Failed while the account reports the change and Succeeded is recorded succeeded, saying both', async () => {
    const deps = boundTo(v1.version);
    failedYetChanged(deps, 'Succeeded');
    const result = await runRebind(job(), 1, deps, silentLogger());
    assert.deepEqual(result.outcome === 'recorded' && [result.record.status, result.record.toVersion], ['succeeded', v2.version]);
    assert.equal(rowOf(deps)?.reason, 'the operation ended Failed: InternalServerError: a step after the update failed, yet the account reports the change and Succeeded');
  });

  it('an operation that ends Failed while the account reports the change in state Failed is not recorded failed: outcome unknown, alerted', async () => {
    const deps = boundTo(v1.version);
    failedYetChanged(deps, 'Failed');
    const log = silentLogger();
    const result = await runRebind(job(), 1, deps, log);
    assert.equal(result.outcome === 'recorded' && result.record.status, 'running');
    assert.equal(rowOf(deps)?.reason, 'outcome unknown: the operation ended Failed: InternalServerError: a step after the update failed; the account reports the change but provisioningState Failed');
    assert.ok(log.lines.some((l) => l.event === 'rotation.outcome-unknown'));
    assert.equal(deps.queue.jobs.length, 0, 'not retried: a person looks at it');
    assert.equal(deps.journal.leases.get(job().accountId.toLowerCase())?.holder, '', 'lease released');
  });

  it('an operation that ends Failed whose account cannot be read back, or is still Accepted, is neither failed nor sent again: outcome unknown', async () => {
    for (const [after, known] of [['unreadable', 'the account could not be read back'], ['Accepted', 'the account is still Accepted']] as const) {
      const deps = boundTo(v1.version);
      failedYetChanged(deps, after === 'Accepted' ? 'Accepted' : 'Succeeded');
      if (after === 'unreadable') armDownAfterFirstRead(deps);
      const log = silentLogger();
      const result = await runRebind(job(), 1, deps, log);
      assert.equal(result.outcome === 'recorded' && result.record.status, 'running', after);
      assert.equal(rowOf(deps)?.reason, `outcome unknown: the operation ended Failed: InternalServerError: a step after the update failed; ${known}`, after);
      assert.ok(log.lines.some((l) => l.event === 'rotation.outcome-unknown'), after);
      assert.deepEqual([deps.queue.jobs.length, deps.accounts.patches.length], [0, 1], `${after}: not re-queued, so an update ARM said Failed is not sent again`);
    }
  });

  it('an error while following the operation is not a failure: the account is read, and it moved', async () => {
    const deps = boundTo(v1.version);
    const patch = deps.accounts.updateEncryption.bind(deps.accounts);
    deps.accounts.updateEncryption = async (id, change) => {
      await patch(id, change);
      throw unavailable('a 500 on the final GET of the operation');
    };
    const result = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'succeeded');
    assert.match(rowOf(deps)?.reason ?? '', /although following the update failed/);
  });

  it('an account still Accepted after its operation is read again (bounded), and then retried, never failed', async () => {
    const deps = boundTo(v1.version);
    deps.accounts.afterPatch = (a, change) => ({ ...a, binding: change.binding, provisioningState: 'Accepted' });
    let reads = 0;
    const get = deps.accounts.getAccount.bind(deps.accounts);
    deps.accounts.getAccount = async (id) => {
      reads += 1;
      return get(id);
    };
    const result = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(result.outcome, 'deferred');
    assert.equal(reads, 1 + 1 + deps.settle.reads, 'the first read, the read-back, and the settle reads');
    assert.equal(rowOf(deps)?.status, 'running');
    assert.equal(deps.queue.jobs[0]?.job.kind === 'rebind' && deps.queue.jobs[0].job.priorAttempts, 1);
    // The next attempt finds it settled on the target: the update sent on attempt 1 took effect.
    deps.accounts.put(boundAccount('a1', v2.version));
    const retry = await runRebind({ ...job(), priorAttempts: 1 }, 1, deps, silentLogger());
    assert.equal(retry.outcome === 'recorded' && retry.record.status, 'succeeded');
    assert.equal(retry.outcome === 'recorded' && retry.record.attempt, 2);
    assert.equal(rowOf(deps)?.reason, `verified: the account reports key version ${v2.version} and Succeeded, after the update sent on attempt 1`);
    assert.equal(rowOf(deps)?.fromVersion, v1.version);
    assert.equal(deps.accounts.patches.length, 1);
  });

  it('ARM refusing the PATCH itself (a 400 that is not "busy") is failed: nothing was applied', async () => {
    const deps = boundTo(v1.version);
    deps.accounts.updateEncryption = async () => {
      throw new DependencyError('InvalidRequestContent', 'bad body', { retryable: false, notApplied: true, statusCode: 400 });
    };
    const result = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'failed');
    assert.match(rowOf(deps)?.reason ?? '', /ARM refused the update: InvalidRequestContent/);
  });

  it('a busy account (400 AccountProvisioningStateInvalid) is retried, not failed', async () => {
    const deps = boundTo(v1.version);
    deps.accounts.updateEncryption = async () => {
      throw new DependencyError('AccountProvisioningStateInvalid', 'in state Accepted', { retryable: true, notApplied: true, statusCode: 400 });
    };
    const result = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(result.outcome, 'deferred');
    assert.equal(rowOf(deps)?.status, 'running');
  });

  it('a programming error goes up as it is, not recorded as an Azure failure', async () => {
    const deps = boundTo(v1.version);
    deps.accounts.updateEncryption = async () => {
      throw new TypeError('undefined is not a function');
    };
    await assert.rejects(runRebind(job(), 1, deps, silentLogger()), TypeError);
  });
});

describe('retries: the attempt count travels with the job, and the last attempt says only what is known', () => {
  it('a retryable failure re-queues the job with back-off and its attempt count; dequeueCount restarting does not reset it', async () => {
    const deps = boundTo(v1.version);
    deps.accounts.updateEncryption = async () => {
      throw unavailable('ARM is down', { retryAfterMs: 7_000 });
    };
    deps.accounts.getAccount = async () => {
      throw unavailable('ARM is down');
    };
    const first = await runRebind({ ...job(), priorAttempts: 2 }, 1, deps, silentLogger());
    assert.equal(first.outcome, 'deferred');
    const requeued = deps.queue.jobs[0];
    assert.equal(requeued?.job.kind === 'rebind' && requeued.job.priorAttempts, 3);
    assert.ok((requeued?.delaySeconds ?? 0) >= 1);
    assert.equal(rowOf(deps)?.attempt, 3);
  });

  it('gives up after the last attempt as failed only when no update was ever sent', async () => {
    const deps = boundTo(v1.version);
    deps.keys.getKeyVersion = async () => {
      throw unavailable('Key Vault is down');
    };
    const log = silentLogger();
    const result = await runRebind({ ...job(), priorAttempts: 4 }, 1, deps, log);
    assert.equal(result.outcome === 'recorded' && result.record.status, 'failed');
    assert.match(rowOf(deps)?.reason ?? '', /gave up after 5 attempts.*no update was sent/);
  });

  it('after a sent update whose outcome cannot be read, the row stays running and says so (never a false failed)', async () => {
    const deps = boundTo(v1.version);
    deps.accounts.updateEncryption = async () => {
      throw unavailable('connection reset while polling');
    };
    armDownAfterFirstRead(deps);
    const log = silentLogger();
    const result = await runRebind({ ...job(), priorAttempts: 4 }, 1, deps, log);
    assert.equal(result.outcome === 'recorded' && result.record.status, 'running');
    assert.match(rowOf(deps)?.reason ?? '', /^outcome unknown/);
    assert.ok(log.lines.some((l) => l.level === 'error' && l.event === 'rotation.outcome-unknown'));
  });

  it('a later attempt never erases the intent an earlier attempt recorded', async () => {
    const deps = boundTo(v1.version);
    deps.accounts.updateEncryption = async () => {
      throw unavailable('reset');
    };
    await runRebind(job(), 1, deps, silentLogger());
    const intent = rowOf(deps)?.intentAt;
    assert.ok(intent);
    deps.clock.now = () => new Date('2026-06-01T00:05:00Z');
    await runRebind({ ...job(), priorAttempts: 1 }, 1, deps, silentLogger());
    assert.equal(rowOf(deps)?.intentAt, intent);
    assert.equal(rowOf(deps)?.intentAttempt, 1);
  });

  it('a job that already finished writes nothing when a duplicate message runs it again', async () => {
    const deps = boundTo(v1.version);
    await runRebind(job(), 1, deps, silentLogger());
    const writes = deps.journal.writes.length;
    const again = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(again.outcome, 'already-finished');
    assert.equal(deps.journal.writes.length, writes);
    assert.equal(rowOf(deps)?.status, 'succeeded');
  });
});

describe('rule 7: one writer per account', () => {
  it('defers while another job holds a live lease, until it expires, and changes nothing', async () => {
    const deps = boundTo(v1.version);
    deps.journal.leases.set(job().accountId.toLowerCase(), { holder: 'other:1', expiresAt: new Date(now.getTime() + 20_000).toISOString(), etag: 'x' });
    const result = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(result.outcome, 'deferred');
    assert.equal(deps.accounts.patches.length, 0);
    assert.equal(deps.queue.jobs[0]?.delaySeconds, 20);
  });
  it('takes over a lease that was not renewed in time (its holder died)', async () => {
    const deps = boundTo(v1.version);
    deps.journal.leases.set(job().accountId.toLowerCase(), { holder: `${job().jobId}:dead`, expiresAt: new Date(now.getTime() - 1).toISOString(), etag: 'x' });
    const result = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'succeeded');
  });
  it('loses the race cleanly when another writer changes the lease between the read and the intent', async () => {
    const deps = boundTo(v1.version);
    const open = deps.journal.open.bind(deps.journal);
    deps.journal.open = async (...args) => {
      const state = await open(...args);
      deps.journal.leases.set(job().accountId.toLowerCase(), { holder: 'fast:1', expiresAt: new Date(now.getTime() + 5_000).toISOString(), etag: 'moved' });
      return state;
    };
    const result = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(result.outcome, 'deferred');
    assert.equal(deps.accounts.patches.length, 0);
  });
  it('does not PATCH an account whose update is still running', async () => {
    const deps = boundTo(v1.version, { provisioningState: 'Accepted' });
    const result = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(result.outcome, 'deferred');
    assert.equal(deps.accounts.patches.length, 0);
  });
});

describe('§2a: pins', () => {
  it('a forced rollback pins the account, and a later event job is skipped, naming who and why', async () => {
    const deps = boundTo(v2.version);
    await runRebind(manual({ targetVersion: v1.version, force: true, reason: 'v2 breaks fine-tuning' }), 1, deps, silentLogger());
    assert.equal(deps.accounts.patches.length, 1);
    const pin = await deps.pins.get(job().accountId);
    assert.deepEqual([pin?.keyVersion, pin?.actor, pin?.reason], [v1.version, 'alice@contoso.com', 'v2 breaks fine-tuning']);
    assert.match(rowOf(deps, 'job-manual-01')?.reason ?? '', /forced downgrade by alice@contoso.com: v2 breaks fine-tuning/);

    const event = await runRebind(job({ jobId: 'job-event-0001', targetVersion: v2.version }), 1, deps, silentLogger());
    assert.equal(event.outcome === 'recorded' && event.record.status, 'skipped');
    assert.match(event.outcome === 'recorded' ? (event.record.reason ?? '') : '', /^pinned by alice@contoso.com/);
    assert.equal(deps.accounts.patches.length, 1);
  });

  it("a forced rollback whose outcome is unknown keeps its pin, and its row still says why and who pinned it", async () => {
    const deps = boundTo(v2.version);
    failedYetChanged(deps, 'Failed');
    const result = await runRebind(manual({ targetVersion: v1.version, force: true, reason: 'v2 breaks fine-tuning' }), 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'running');
    assert.equal((await deps.pins.get(job().accountId))?.keyVersion, v1.version, 'the pin holds the account where the update may have put it');
    const reason = rowOf(deps, 'job-manual-01')?.reason ?? '';
    assert.match(reason, /^outcome unknown: the operation ended Failed: /);
    assert.match(reason, /; forced downgrade by alice@contoso\.com: v2 breaks fine-tuning; pinned to /);
  });

  it('a manual rotation without force releases the pin and says so', async () => {
    const deps = boundTo(v1.version);
    await deps.pins.set({ accountId: job().accountId, keyVersion: v1.version, actor: 'alice', reason: 'r', pinnedAt: now.toISOString(), jobId: 'x' });
    const result = await runRebind(manual({ targetVersion: v2.version }), 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'succeeded');
    assert.equal(await deps.pins.get(job().accountId), undefined);
    assert.match(rowOf(deps, 'job-manual-01')?.reason ?? '', /released the pin to .* set by alice/);
  });

  it('a forced rollback that fails does not leave a pin behind', async () => {
    const deps = boundTo(v2.version);
    deps.accounts.verdict = () => ({ status: 'failed', code: 'KeyVaultAccessForbidden', message: 'no' });
    await runRebind(manual({ targetVersion: v1.version, force: true }), 1, deps, silentLogger());
    assert.equal(await deps.pins.get(job().accountId), undefined);
  });
});

describe('OPT_OUT_TAG, as the job reads the account', () => {
  const tagged = () => boundTo(v1.version, { tags: { 'cmk-rotator:opt-out': 'true' } });

  it('an event, sweep or key-wide job for an account tagged since discovery read it (Resource Graph, the scope index) is skipped, with no PATCH', async () => {
    for (const trigger of ['event', 'sweep', 'manual'] as const) {
      const deps = tagged();
      const result = await runRebind(job({ trigger, ...(trigger === 'manual' ? { actor: 'alice@contoso.com' } : {}) }), 1, deps, silentLogger());
      assert.deepEqual(result.outcome === 'recorded' && [result.record.status, result.record.reason], ['skipped', 'opted-out: the account carries the tag cmk-rotator:opt-out'], trigger);
      assert.equal(deps.accounts.patches.length, 0, trigger);
    }
  });

  it('a person naming the account acts on it all the same', async () => {
    const deps = tagged();
    const result = await runRebind(manual({ targetVersion: v2.version, accountNamed: true }), 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'succeeded');
  });
});
