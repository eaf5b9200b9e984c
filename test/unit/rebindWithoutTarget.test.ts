import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runRebind } from '../../shared/usecases/rebind';
import { boundTo, job, now } from '../support/accountJobKit';
import { boundAccount, silentLogger } from '../support/fakes';

// A job without a target version (KeyNearExpiry with bind-newer, a person's rotation without keyVersion) on a key
// with no usable version: rule 1, the pin and a versionless binding still answer before rule 2's refusal.

/** v1 and v2 both disabled: nothing to bind. */
function nothingUsable(...over: Parameters<typeof boundTo>) {
  const deps = boundTo(...over);
  deps.keys.versions.splice(0, deps.keys.versions.length, ...deps.keys.versions.map((v) => ({ ...v, enabled: false })));
  return deps;
}

const untargeted = job({ targetVersion: undefined });

async function statusAndReason(deps: ReturnType<typeof boundTo>): Promise<[string | false, string]> {
  const result = await runRebind(untargeted, 1, deps, silentLogger());
  return result.outcome === 'recorded' ? [result.record.status, result.record.reason ?? ''] : [false, result.outcome];
}

describe('rebind without a target version, on a key with no usable version', () => {
  it('refuses an account bound to the key: no-usable-version', async () => {
    const deps = nothingUsable('x');
    const [status, reason] = await statusAndReason(deps);
    assert.equal(status, 'refused');
    assert.match(reason, /^no-usable-version/);
  });

  it('skips an account bound to another key (rule 1), not refused', async () => {
    const deps = nothingUsable('x');
    const other = boundAccount('a1', 'x');
    deps.accounts.put({ ...other, binding: { ...other.binding!, keyName: 'another' } });
    const [status, reason] = await statusAndReason(deps);
    assert.equal(status, 'skipped');
    assert.match(reason, /^binding-changed/);
  });

  it('skips a pinned account, naming the pin', async () => {
    const deps = nothingUsable('x');
    await deps.pins.set({ accountId: job().accountId, keyVersion: 'x', actor: 'bob', reason: 'hold', pinnedAt: now.toISOString(), jobId: 'job-rollback' });
    const [status, reason] = await statusAndReason(deps);
    assert.equal(status, 'skipped');
    assert.match(reason, /^pinned by bob/);
  });

  it('skips a versionless binding as versionless', async () => {
    const deps = nothingUsable('');
    const [status, reason] = await statusAndReason(deps);
    assert.equal(status, 'skipped');
    assert.match(reason, /^versionless/);
  });
});
