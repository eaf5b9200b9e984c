import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runRebind } from '../../shared/usecases/rebind';
import { boundTo, job, manual, now, rowOf, unavailable, v1, v2 } from '../support/accountJobKit';
import { silentLogger } from '../support/fakes';

// Storage and ARM failing at each step of a job: every outcome is recorded, or the job comes back; none is made up.

/** Attempt 1 writes its intent; its PATCH is refused (429, not applied): the row is running, the account unmoved. */
async function intentThen429(deps: ReturnType<typeof boundTo>, first = job()): Promise<void> {
  const patch = deps.accounts.updateEncryption.bind(deps.accounts);
  deps.accounts.updateEncryption = async () => {
    throw unavailable('429 on the PATCH', { notApplied: true, statusCode: 429 });
  };
  await runRebind(first, 1, deps, silentLogger());
  assert.equal(rowOf(deps, first.jobId)?.status, 'running');
  deps.accounts.updateEncryption = patch;
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
    const begin = deps.journal.begin.bind(deps.journal);
    deps.journal.begin = async (...args) => {
      await begin(...args);
      throw unavailable('connection reset after the transaction');
    };
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
});
