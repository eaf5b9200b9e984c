import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runRebind } from '../../shared/usecases/rebind';
import { boundTo, intentThen429, job, manual, now, rowOf, sentButUnconfirmed, unavailable, v1, v2 } from '../support/accountJobKit';
import { hex, keyVersion, silentLogger } from '../support/fakes';

// §2a: a forced rebind's pin, and a plain rotation's release of one, follow what happened to the account, not what was asked.

describe('§2a: a pin follows what happened to the account', () => {
  const pinned = { keyVersion: v1.version, actor: 'bob', reason: 'v2 breaks fine-tuning', pinnedAt: now.toISOString(), jobId: 'job-rollback' };

  it('a plain manual rotation that is refused keeps the pin', async () => {
    const deps = boundTo(v1.version);
    deps.keys.versions.splice(deps.keys.versions.indexOf(v2), 1, { ...v2, enabled: false });
    await deps.pins.set({ accountId: job().accountId, ...pinned });
    const result = await runRebind(manual({ targetVersion: v2.version }), 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'refused');
    assert.equal((await deps.pins.get(job().accountId))?.keyVersion, v1.version);
  });

  it('a plain manual rotation whose outcome is not known yet leaves the pin until the account is seen on the target', async () => {
    const deps = boundTo(v1.version);
    await deps.pins.set({ accountId: job().accountId, ...pinned });
    await sentButUnconfirmed(deps, manual({ targetVersion: v2.version }));
    assert.equal((await deps.pins.get(job().accountId))?.keyVersion, v1.version);
    const retry = await runRebind({ ...manual({ targetVersion: v2.version }), priorAttempts: 1 }, 1, deps, silentLogger());
    assert.equal(retry.outcome === 'recorded' && retry.record.status, 'succeeded');
    assert.equal(await deps.pins.get(job().accountId), undefined);
  });

  it('a forced rollback that gives up failed (every PATCH refused) takes back its pin', async () => {
    const deps = boundTo(v2.version);
    deps.accounts.updateEncryption = async () => {
      throw unavailable('429 on the PATCH', { notApplied: true, statusCode: 429 });
    };
    const rollback = manual({ targetVersion: v1.version, force: true, priorAttempts: 4 });
    const result = await runRebind(rollback, 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'failed');
    assert.equal(await deps.pins.get(job().accountId), undefined);
    assert.match(rowOf(deps, rollback.jobId)?.reason ?? '', /took back its pin to/);
  });

  it("a forced rebind whose operation ends Failed, the account not moved, leaves another person's pin where it was", async () => {
    const deps = boundTo(v2.version);
    const v3 = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z') });
    deps.keys.add(v3);
    await deps.pins.set({ accountId: job().accountId, ...pinned, keyVersion: v2.version });
    deps.accounts.verdict = () => ({ status: 'failed', code: 'KeyVaultAccessDenied', message: 'the identity cannot unwrap with v3' });
    const forced = manual({ targetVersion: v3.version, force: true, jobId: 'job-forced-02' });
    const result = await runRebind(forced, 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'failed');
    assert.equal((await deps.accounts.getAccount(job().accountId))?.binding?.keyVersion, v2.version);
    const pin = await deps.pins.get(job().accountId);
    assert.deepEqual([pin?.keyVersion, pin?.actor, pin?.jobId], [v2.version, 'bob', 'job-rollback']);
  });

  it("a forced rebind taken back on a later attempt still leaves another person's pin where it was", async () => {
    const deps = boundTo(v2.version);
    await deps.pins.set({ accountId: job().accountId, ...pinned, keyVersion: v2.version });
    const forced = manual({ targetVersion: v1.version, force: true, jobId: 'job-forced-03' });
    await intentThen429(deps, forced);
    assert.equal((await deps.pins.get(job().accountId))?.jobId, forced.jobId);
    deps.accounts.updateEncryption = async () => {
      throw unavailable('429 on the PATCH', { notApplied: true, statusCode: 429 });
    };
    const last = await runRebind({ ...forced, priorAttempts: 4 }, 1, deps, silentLogger());
    assert.equal(last.outcome === 'recorded' && last.record.status, 'failed');
    const pin = await deps.pins.get(job().accountId);
    assert.deepEqual([pin?.keyVersion, pin?.actor, pin?.jobId], [v2.version, 'bob', 'job-rollback']);
  });

  it('a pin keeps at most 16 pins it replaced, the nearest: a Table property holds 64 KiB', async () => {
    const deps = boundTo(v2.version);
    const older = Array.from({ length: 20 }, (_, i) => ({ accountId: job().accountId, ...pinned, keyVersion: v2.version, jobId: `job-older-${i}`, reason: 'r'.repeat(500) }));
    await deps.pins.set({ accountId: job().accountId, ...pinned, keyVersion: v2.version, replaces: JSON.stringify(older) });
    await intentThen429(deps, manual({ targetVersion: v1.version, force: true, jobId: 'job-forced-chain' }));
    const chain = JSON.parse((await deps.pins.get(job().accountId))?.replaces ?? '[]') as Array<{ jobId: string }>;
    assert.deepEqual(chain.map((p) => p.jobId), ['job-rollback', ...older.slice(0, 15).map((p) => p.jobId)]);
  });

  describe('two forced rebinds of one account, each deferred after its intent, both taken back', () => {
    /** Bob's pin on v2; Alice's forced move to v1 and then Carol's to v3 each pin the account and are deferred (429). */
    async function twoForced() {
      const deps = boundTo(v2.version);
      const v3 = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z') });
      deps.keys.add(v3);
      await deps.pins.set({ accountId: job().accountId, ...pinned, keyVersion: v2.version });
      const alice = manual({ targetVersion: v1.version, force: true, jobId: 'job-forced-alice' });
      const carol = manual({ targetVersion: v3.version, force: true, jobId: 'job-forced-carol', actor: 'carol@contoso.com' });
      await intentThen429(deps, alice);
      await intentThen429(deps, carol);
      assert.equal((await deps.pins.get(job().accountId))?.jobId, carol.jobId);
      deps.accounts.updateEncryption = async () => {
        throw unavailable('429 on the PATCH', { notApplied: true, statusCode: 429 });
      };
      const lastAttempt = async (forced: typeof alice) => {
        const last = await runRebind({ ...forced, priorAttempts: 4 }, 1, deps, silentLogger());
        assert.equal(last.outcome === 'recorded' && last.record.status, 'failed');
      };
      return { deps, alice, carol, lastAttempt };
    }

    it("Carol's ends first, then Alice's: Bob's pin holds again", async () => {
      const { deps, alice, carol, lastAttempt } = await twoForced();
      await lastAttempt(carol);
      assert.equal((await deps.pins.get(job().accountId))?.jobId, alice.jobId, "Alice's pin, still in force, holds again");
      await lastAttempt(alice);
      const pin = await deps.pins.get(job().accountId);
      assert.deepEqual([pin?.keyVersion, pin?.actor, pin?.jobId], [v2.version, 'bob', 'job-rollback']);
    });

    it("Alice's ends first, then Carol's: Bob's pin holds again, not the pin of Alice's failed move", async () => {
      const { deps, alice, carol, lastAttempt } = await twoForced();
      await lastAttempt(alice);
      assert.equal((await deps.pins.get(job().accountId))?.jobId, carol.jobId, "Carol's pin, still in force, stays");
      await lastAttempt(carol);
      const pin = await deps.pins.get(job().accountId);
      assert.deepEqual([pin?.keyVersion, pin?.actor, pin?.jobId], [v2.version, 'bob', 'job-rollback']);
    });
  });
});
