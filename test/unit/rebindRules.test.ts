import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RebindJob } from '../../shared/domain/jobs';
import { decideRebind, verifyRebind } from '../../shared/domain/rebind';
import { DependencyError } from '../../shared/errors';
import { runRebind } from '../../shared/usecases/rebind';
import { boundAccount, hex, keyVersion, rebindDeps, silentLogger, VAULT } from '../support/fakes';

const now = new Date('2026-06-01T00:00:00Z');
const policy = { allowedKeySizes: [2048], expiryMarginMs: 24 * 3_600_000 };
const v1 = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
const v2 = keyVersion(hex(2), { createdOn: new Date('2026-03-01T00:00:00Z') });
const request = { vaultUri: VAULT, keyName: 'cmk', force: false };

function decide(over: Partial<Parameters<typeof decideRebind>[0]> = {}) {
  return decideRebind({ account: boundAccount('a1', v1.version), request, target: v2, current: v1, policy, now, ...over });
}

describe('rule 1: the account must still be bound to the job key', () => {
  it('skips an account bound to another key name', () => {
    const d = decide({ account: boundAccount('a1', v1.version, { binding: { vaultUri: VAULT, keyName: 'other', keyVersion: v1.version } }) });
    assert.equal(d.action, 'none');
    assert.equal(d.action === 'none' && d.status, 'skipped');
    assert.match(d.action === 'none' ? d.reason : '', /^binding-changed/);
  });
  it('skips an account bound to the same key name in another vault', () => {
    const d = decide({ account: boundAccount('a1', v1.version, { binding: { vaultUri: 'https://kv-two.vault.azure.net/', keyName: 'cmk', keyVersion: v1.version } }) });
    assert.match(d.action === 'none' ? d.reason : '', /^binding-changed/);
  });
  it('skips an account that moved to Microsoft-managed keys', () => {
    const { binding: _b, ...rest } = boundAccount('a1', v1.version);
    const d = decide({ account: { ...rest, keySource: 'Microsoft.CognitiveServices' } });
    assert.match(d.action === 'none' ? d.reason : '', /^binding-changed/);
  });
  it('matches vault host and key name without regard to case or trailing slash', () => {
    const d = decide({ account: boundAccount('a1', v1.version, { binding: { vaultUri: 'https://KV-ONE.vault.azure.net', keyName: 'CMK', keyVersion: v1.version } }) });
    assert.equal(d.action, 'patch');
  });
});

describe('rule 2: the target version must be usable', () => {
  const cases: Array<[string, Partial<typeof v2>, RegExp]> = [
    ['disabled', { enabled: false }, /key-disabled/],
    ['not yet valid', { notBefore: new Date('2026-06-02T00:00:00Z') }, /key-not-yet-valid/],
    ['expired', { expiresOn: new Date('2026-05-01T00:00:00Z') }, /key-expired/],
    ['expiring inside the safety margin', { expiresOn: new Date('2026-06-01T12:00:00Z') }, /key-expires-too-soon/],
    ['an EC key', { kty: 'EC', keySize: undefined }, /unsupported-key-type/],
    ['4096 bits when only 2048 is allowed', { keySize: 4096 }, /unsupported-key-size/],
    ['without unwrapKey', { keyOps: ['wrapKey', 'encrypt'] }, /missing-key-operations/],
  ];
  for (const [name, over, reason] of cases) {
    it(`refuses a version that is ${name}`, () => {
      const d = decide({ target: { ...v2, ...over } });
      assert.equal(d.action === 'none' && d.status, 'refused');
      assert.match(d.action === 'none' ? d.reason : '', reason);
    });
  }
  it('accepts RSA-HSM, an expiry past the margin, and a nbf in the past', () => {
    const d = decide({ target: { ...v2, kty: 'RSA-HSM', expiresOn: new Date('2026-06-02T00:00:01Z'), notBefore: new Date('2026-05-01T00:00:00Z') } });
    assert.equal(d.action, 'patch');
  });
  it('accepts 3072 bits when the policy allows it', () => {
    const d = decide({ target: { ...v2, keySize: 3072 }, policy: { ...policy, allowedKeySizes: [2048, 3072] } });
    assert.equal(d.action, 'patch');
  });
  it('refuses a target that does not exist', () => {
    const d = decide({ target: undefined });
    assert.match(d.action === 'none' ? d.reason : '', /^key-missing/);
  });
});

describe('rule 3: never downgrade unless a person forces it', () => {
  it('skips a target older than the bound version', () => {
    const d = decide({ account: boundAccount('a1', v2.version), target: v1, current: v2 });
    assert.equal(d.action === 'none' && d.status, 'skipped');
    assert.match(d.action === 'none' ? d.reason : '', /^stale-target/);
  });
  it('moves to the older version when forced', () => {
    const d = decide({ account: boundAccount('a1', v2.version), target: v1, current: v2, request: { ...request, force: true } });
    assert.equal(d.action, 'patch');
  });
});

describe('rule 3 under a failing read', () => {
  it('does not PATCH when the bound version cannot be read for the age check; the queue retries', async () => {
    const deps = boundTo(v2.version);
    const read = deps.keys.getKeyVersion.bind(deps.keys);
    deps.keys.getKeyVersion = async (vault, key, version) => {
      if (version === v2.version) throw new DependencyError('ServiceUnavailable', 'Key Vault is busy', true, 503);
      return read(vault, key, version);
    };
    await assert.rejects(runRebind(job({ targetVersion: v1.version }), 1, deps, silentLogger()), /Key Vault is busy/);
    assert.equal(deps.accounts.patches.length, 0);
  });
});

describe('rule 4: the same version already bound', () => {
  it('answers already-current without a PATCH, whatever the case of the version', () => {
    const d = decide({ account: boundAccount('a1', v2.version.toUpperCase()), current: undefined });
    assert.equal(d.action === 'none' && d.status, 'already-current');
  });
});

describe('rule 5: only keyVersion changes', () => {
  it('sends vault URI, key name and identity client id back as they were', () => {
    const binding = { vaultUri: 'https://KV-ONE.vault.azure.net/', keyName: 'Cmk', keyVersion: v1.version, identityClientId: 'c1' };
    const d = decide({ account: boundAccount('a1', v1.version, { binding }) });
    assert.equal(d.action, 'patch');
    assert.deepEqual(d.action === 'patch' && d.binding, { ...binding, keyVersion: v2.version });
  });
});

/** Fakes with key versions v1 and v2 and account a1 bound to `version`. */
function boundTo(version: string, over: Partial<Parameters<typeof boundAccount>[2]> = {}) {
  const deps = rebindDeps();
  deps.keys.add(v1, v2);
  deps.accounts.put(boundAccount('a1', version, over));
  return deps;
}

function job(over: Partial<RebindJob> = {}): RebindJob {
  return {
    kind: 'rebind', jobId: 'job-00000001', trigger: 'event', createdAt: now.toISOString(), vaultUri: VAULT, keyName: 'cmk',
    accountId: boundAccount('a1', v1.version).id, targetVersion: v2.version, force: false, ...over,
  };
}

describe('rule 6: intent before action, success only when verified', () => {
  it('writes the running row before the PATCH and succeeded after reading the account back', async () => {
    const deps = boundTo(v1.version);
    let rowsAtPatch: string[] = [];
    const patch = deps.accounts.updateEncryption.bind(deps.accounts);
    deps.accounts.updateEncryption = async (id, change) => {
      rowsAtPatch = deps.ledger.writes.map((w) => w.status);
      return patch(id, change);
    };
    const result = await runRebind(job(), 1, deps, silentLogger());
    assert.deepEqual(rowsAtPatch, ['running']);
    assert.equal(result.outcome === 'recorded' && result.record.status, 'succeeded');
    assert.deepEqual(deps.ledger.writes.map((w) => [w.status, w.fromVersion, w.toVersion]), [
      ['running', v1.version, v2.version],
      ['succeeded', v1.version, v2.version],
    ]);
  });
  it('does not PATCH when the intent row cannot be written', async () => {
    const deps = boundTo(v1.version);
    deps.ledger.failOn = (row) => row.status === 'running';
    await assert.rejects(runRebind(job(), 1, deps, silentLogger()), /ledger unavailable/);
    assert.equal(deps.accounts.patches.length, 0);
    assert.equal(deps.leases.held.size, 0, 'lease released');
  });
  it('records failed when the account does not report the target version after the update', async () => {
    const deps = boundTo(v1.version);
    deps.accounts.afterPatch = (a) => ({ ...a, provisioningState: 'Failed' });
    const result = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'failed');
    assert.match(result.outcome === 'recorded' ? (result.record.reason ?? '') : '', /verification/);
    assert.equal(deps.jobKeys.claims.size, 0, 'a failed job lets a later one try again');
  });
  it('verifyRebind needs both the version and Succeeded', () => {
    assert.equal(verifyRebind(boundAccount('a', v2.version, { provisioningState: 'Accepted' }), v2.version).ok, false);
    assert.equal(verifyRebind(boundAccount('a', v1.version), v2.version).ok, false);
    assert.equal(verifyRebind(boundAccount('a', v2.version), v2.version).ok, true);
  });
  it('rethrows a retryable failure before the last attempt and reports it on the last', async () => {
    const deps = boundTo(v1.version);
    deps.accounts.updateEncryption = async () => {
      throw new DependencyError('ServiceUnavailable', 'ARM is down', true, 503);
    };
    await assert.rejects(runRebind(job(), 1, deps, silentLogger()), /ARM is down/);
    const log = silentLogger();
    const last = await runRebind(job(), 5, deps, log);
    assert.equal(last.outcome === 'recorded' && last.record.status, 'failed');
    assert.ok(log.lines.some((l) => l.level === 'error' && l.message.startsWith('CmkRotationFailed')));
  });
});

describe('failures that are not already DependencyErrors', () => {
  it('an Azure RestError on the last attempt is recorded as failed and reported', async () => {
    const deps = boundTo(v1.version);
    deps.accounts.updateEncryption = async () => {
      throw Object.assign(new Error('Internal error'), { name: 'RestError', statusCode: 500 });
    };
    const log = silentLogger();
    const result = await runRebind(job(), 5, deps, log);
    assert.equal(result.outcome === 'recorded' && result.record.status, 'failed');
    assert.match(result.outcome === 'recorded' ? (result.record.reason ?? '') : '', /http-500/);
    assert.ok(log.lines.some((l) => l.message.startsWith('CmkRotationFailed')));
  });
  it('a programming error is not recorded as an Azure failure: it goes up as it is', async () => {
    const deps = boundTo(v1.version);
    deps.accounts.updateEncryption = async () => {
      throw new TypeError('undefined is not a function');
    };
    await assert.rejects(runRebind(job(), 5, deps, silentLogger()), TypeError);
    assert.deepEqual([...deps.ledger.rows.values()].map((r) => r.status), ['running']);
  });
});

describe('rule 7: one writer per account', () => {
  it('re-queues the job with a delay when the lease is held, and changes nothing', async () => {
    const deps = boundTo(v1.version);
    deps.leases.held.set(job().accountId.toLowerCase(), 'another-job');
    const result = await runRebind(job(), 1, deps, silentLogger());
    assert.equal(result.outcome, 'deferred');
    assert.equal(deps.accounts.patches.length, 0);
    assert.equal(deps.queue.jobs.length, 1);
    assert.equal(deps.queue.jobs[0]?.delaySeconds, 30);
    assert.equal(deps.queue.jobs[0]?.job.jobId, job().jobId);
  });
});

describe('rule 8: exactly once per (account, target version)', () => {
  it('a second job for the same version is skipped as a duplicate, with one PATCH in all', async () => {
    const deps = boundTo(v1.version);
    await runRebind(job({ jobId: 'job-first-0001' }), 1, deps, silentLogger());
    const second = await runRebind(job({ jobId: 'job-second-002' }), 1, deps, silentLogger());
    assert.equal(deps.accounts.patches.length, 1);
    assert.equal(second.outcome === 'recorded' && second.record.status, 'skipped');
    assert.match(second.outcome === 'recorded' ? (second.record.reason ?? '') : '', /^duplicate/);
  });
  it("a job's own retry is not its own duplicate", async () => {
    const deps = boundTo(v1.version);
    await deps.jobKeys.claim(job().accountId, v2.version, job().jobId);
    const result = await runRebind(job(), 2, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'succeeded');
  });
});

describe('target resolution', () => {
  it('without a target version binds the newest usable one, passing over a newer disabled one', async () => {
    const deps = rebindDeps();
    const v3 = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z'), enabled: false });
    deps.keys.add(v1, v2, v3);
    deps.accounts.put(boundAccount('a1', v1.version));
    const { targetVersion: _t, ...rest } = job();
    const result = await runRebind(rest, 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.toVersion, v2.version);
    assert.equal(deps.accounts.patches[0]?.change.binding?.keyVersion, v2.version);
  });
});

describe('retries and crashes part-way', () => {
  it('a retry after the PATCH landed records succeeded with the original from-version, not already-current', async () => {
    const deps = boundTo(v1.version);
    // Attempt 1: the PATCH lands, then reading the account back fails.
    const get = deps.accounts.getAccount.bind(deps.accounts);
    let reads = 0;
    deps.accounts.getAccount = async (id) => {
      reads += 1;
      if (reads === 2) throw new DependencyError('ServiceUnavailable', 'ARM read failed', true, 503);
      return get(id);
    };
    await assert.rejects(runRebind(job(), 1, deps, silentLogger()), /ARM read failed/);
    const retry = await runRebind(job(), 2, deps, silentLogger());
    assert.equal(retry.outcome === 'recorded' && retry.record.status, 'succeeded');
    assert.equal(retry.outcome === 'recorded' && retry.record.fromVersion, v1.version);
    assert.equal(retry.outcome === 'recorded' && retry.record.toVersion, v2.version);
    assert.equal(deps.accounts.patches.length, 1);
  });

  it('an account whose update is still running is not PATCHed again; the queue retries', async () => {
    const deps = rebindDeps();
    deps.keys.add(v1, v2);
    deps.accounts.put(boundAccount('a1', v2.version, { provisioningState: 'Accepted' }));
    await assert.rejects(runRebind(job(), 1, deps, silentLogger()), /Accepted/);
    assert.equal(deps.accounts.patches.length, 0);
    assert.equal(deps.jobKeys.claims.size, 0, 'the claim is let go for the retry');
  });

  it('a failure to settle the claim or release the lease does not undo a success', async () => {
    const deps = boundTo(v1.version);
    deps.jobKeys.settle = async () => {
      throw new Error('tables unavailable');
    };
    deps.leases.release = async () => {
      throw new Error('tables unavailable');
    };
    const log = silentLogger();
    const result = await runRebind(job(), 1, deps, log);
    assert.equal(result.outcome === 'recorded' && result.record.status, 'succeeded');
    assert.equal(log.lines.filter((l) => l.level === 'warn').length, 2);
  });
});
