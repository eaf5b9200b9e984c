import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Finding, SweepSummary } from '../../shared/domain/findings';
import { DependencyError } from '../../shared/errors';
import { KeyReader } from '../../shared/usecases/keyViews';
import { SweepRepairs, type SweepTarget } from '../../shared/usecases/sweepRepairs';
import { boundAccount, hex, keyVersion, rebindDeps, silentLogger, VAULT } from '../support/fakes';

// Enforce mode confirms drift through ARM before it queues a repair; a confirmation ARM cannot answer makes the run
// partial, as an unreadable key does, instead of failing the whole sweep.

const drift = [{ code: 'version-drift', severity: 'warning', evidence: {}, remedy: '' }] as unknown as Finding[];

function setup() {
  const deps = { ...rebindDeps(), nearExpiryDays: 30, nearExpiryAction: 'bind-newer' as const };
  deps.keys.add(keyVersion(hex(1)), keyVersion(hex(2), { createdOn: new Date('2026-03-01T00:00:00Z') }));
  const account = boundAccount('a1', hex(1));
  deps.accounts.put(account);
  const summary: SweepSummary = {
    sweepId: 'sweep-1', trigger: 'timer', mode: 'enforce', status: 'running', startedAt: '2026-06-01T00:00:00Z',
    accountsSeen: 1, keysRead: 1, findingsByCode: {}, findingsBySeverity: {}, remediationsQueued: 0, errors: [],
  };
  const now = deps.clock.now();
  const target: SweepTarget = { account, holder: { ...account, binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: hex(1) } }, key: { reader: new KeyReader(deps.keys, VAULT, 'cmk', deps.policy, now) } };
  return { deps, summary, target, repairs: new SweepRepairs('sweep-1', deps, silentLogger(), summary, now) };
}

describe('enforce-mode repairs', () => {
  it('confirmed drift queues one repair to the newest usable version', async () => {
    const { deps, summary, target, repairs } = setup();
    await repairs.consider(target, drift);
    await repairs.repairDrift();
    assert.deepEqual(deps.queue.jobs.map((j) => [j.job.kind, 'targetVersion' in j.job ? j.job.targetVersion : undefined]), [['rebind', hex(2)]]);
    assert.deepEqual([summary.remediationsQueued, summary.errors], [1, []]);
  });

  it('drift ARM cannot confirm is an error of the run, and nothing is queued', async () => {
    const { deps, summary, target, repairs } = setup();
    deps.accounts.getAccount = async () => {
      throw new DependencyError('TooManyRequests', 'throttled', { retryable: true, statusCode: 429 });
    };
    await repairs.consider(target, drift);
    await repairs.repairDrift();
    assert.equal(deps.queue.jobs.length, 0);
    assert.deepEqual(summary.errors, ['confirming the drift of a1: throttled']);
  });
});
