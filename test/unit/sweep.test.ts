import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RebindJob } from '../../shared/domain/jobs';
import type { AccountState } from '../../shared/domain/model';
import { DependencyError } from '../../shared/errors';
import { ArmAccounts } from '../../shared/adapters/armDiscovery';
import { ScopedDiscovery } from '../../shared/adapters/scopeDiscovery';
import { runSweep, type SweepDeps } from '../../shared/usecases/sweep';
import { accessPolicyVault, accountId, boundAccount, boundScope, estateDeps, hex, keyVersion, silentLogger, SUB, VAULT } from '../support/fakes';

// The compliance sweep with in-memory fakes: the findings it stores, the summary it records, and in enforce
// mode the repairs it queues.

const now = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;
const v1 = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
const v2 = keyVersion(hex(2), { createdOn: new Date('2026-03-01T00:00:00Z') });

/** v1 and v2 (v2 current) of VAULT's key cmk and these accounts, swept in `mode`. */
function estate(accounts: AccountState[], over: Partial<SweepDeps> = {}, pageSize?: number) {
  const deps = estateDeps(over, pageSize);
  deps.keys.add(v1, v2);
  deps.accounts.put(...accounts);
  return deps;
}

const codesOf = async (deps: ReturnType<typeof estate>, name: string) => (await deps.findings.list({ accountId: accountId(name) })).map((f) => f.code).sort();
const jobs = (deps: ReturnType<typeof estate>) => deps.queue.jobs.map(({ job }) => job as RebindJob);
const unreadable = () => new DependencyError('ServiceUnavailable', 'Key Vault is unavailable', { retryable: true, statusCode: 503, dependency: 'key-vault' });

describe('sweep, report mode', () => {
  it('finds the drift and stores it, queues nothing, and records a completed summary', async () => {
    const deps = estate([boundAccount('current', v2.version), boundAccount('behind', v1.version)], {}, 1);
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual(await codesOf(deps, 'behind'), ['version-drift']);
    assert.deepEqual(await codesOf(deps, 'current'), []);
    assert.equal(deps.queue.jobs.length, 0);
    assert.deepEqual([summary.status, summary.accountsSeen, summary.keysRead, summary.findingsByCode['version-drift'], summary.remediationsQueued], ['completed', 2, 1, 1, 0]);
    assert.deepEqual(deps.sweeps.records.map((r) => r.status), ['running', 'completed']);
  });

  it('rewrites only the verdicts that changed, and drops those of accounts no longer bound', async () => {
    const deps = estate([boundAccount('a1', v1.version), boundAccount('a2', v1.version)]);
    await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.equal(deps.findings.written.length, 2);
    deps.accounts.put(boundAccount('a1', v2.version));
    deps.accounts.accounts.delete(accountId('a2').toLowerCase());
    await runSweep('sweep-2', 'timer', deps, silentLogger());
    assert.deepEqual(deps.findings.written.slice(2), [accountId('a1')], 'a1 fixed is written; a2 gone is not judged');
    assert.deepEqual((await deps.findings.list()).map((f) => f.accountId), [], 'a2\'s findings are gone with it');
  });

  it('leaves an opted-out account unjudged, and reports a pinned one instead of its drift', async () => {
    const deps = estate([boundAccount('out', v1.version, { tags: { 'cmk-rotator:opt-out': 'true' } }), boundAccount('pinned', v1.version)]);
    await deps.pins.set({ accountId: accountId('pinned'), keyVersion: v1.version, actor: 'alice', reason: 'v2 breaks fine-tuning', pinnedAt: now.toISOString(), jobId: 'job-1' });
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.equal(summary.accountsSeen, 1);
    assert.deepEqual(await codesOf(deps, 'out'), []);
    assert.deepEqual(await codesOf(deps, 'pinned'), ['pinned']);
  });

  it('a key that cannot be read makes the run partial and marks only its accounts: they keep their last findings', async () => {
    const other = (name: string, version: string) => boundAccount(name, version, { binding: { vaultUri: VAULT, keyName: 'other', keyVersion: version } });
    const deps = estate([boundAccount('fine', v1.version), other('o1', hex(9)), other('o2', hex(9))]);
    deps.keys.add(keyVersion(hex(9), { keyName: 'other', enabled: false }));
    await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual(await codesOf(deps, 'o1'), ['key-disabled']);
    const list = deps.keys.listVersions.bind(deps.keys);
    deps.keys.listVersions = async (vaultUri, keyName) => (keyName === 'other' ? Promise.reject(unreadable()) : list(vaultUri, keyName));
    deps.accounts.put(boundAccount('fine', v2.version));
    const log = silentLogger();
    const summary = await runSweep('sweep-2', 'timer', deps, log);
    assert.equal(summary.status, 'partial');
    assert.deepEqual(summary.errors.map((e) => /^key other in /.test(e)), [true], summary.errors.join('; '));
    // sweep.done says how many errors and the first of them (its alert shows why the run failed or was partial).
    const done = log.lines.find((l) => l.event === 'sweep.done')?.fields;
    assert.deepEqual([done?.errors, done?.firstError], [1, summary.errors[0]]);
    assert.deepEqual([await codesOf(deps, 'o1'), await codesOf(deps, 'o2'), await codesOf(deps, 'fine')], [['key-disabled'], ['key-disabled'], []]);
  });

  it('a key the service may not read (403) is a finding on its accounts, not a partial run', async () => {
    const deps = estate([boundAccount('a1', v1.version)]);
    deps.keys.listVersions = async () => Promise.reject(new DependencyError('Forbidden', 'no list permission', { retryable: false, statusCode: 403, dependency: 'key-vault' }));
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual([summary.status, await codesOf(deps, 'a1')], ['completed', ['key-access-denied']]);
  });

  it("a vault listing lost to a passing fault (503, a reset) makes the run partial: the vault's accounts keep their last findings", async () => {
    const deps = estate([boundAccount('denied', v2.version)]);
    // The vault grants nobody but 'someone-else': the account's identity cannot unwrap.
    deps.vaults.put(accessPolicyVault({}, ['someone-else']));
    await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual(await codesOf(deps, 'denied'), ['access-missing']);
    deps.vaults.findVault = async () => Promise.reject(new DependencyError('ServiceUnavailable', `listing key vaults in subscription ${SUB}: the server is busy`, {
      retryable: true, statusCode: 503, dependency: 'arm',
    }));
    const summary = await runSweep('sweep-2', 'timer', deps, silentLogger());
    assert.equal(summary.status, 'partial', summary.errors.join('; '));
    assert.match(summary.errors.join(), /listing key vaults/);
    assert.deepEqual(await codesOf(deps, 'denied'), ['access-missing'], 'the access it did not check is not cleared');
  });

  it('a vault ARM refuses to list (403, a role the rotator lacks) is a finding on its accounts, not a partial run', async () => {
    const deps = estate([boundAccount('a1', v2.version)]);
    deps.vaults.findVault = async () => Promise.reject(new DependencyError('AuthorizationFailed', `listing key vaults in subscription ${SUB}: no read`, {
      retryable: false, statusCode: 403, dependency: 'arm',
    }));
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual([summary.status, await codesOf(deps, 'a1')], ['completed', ['vault-unreadable']]);
  });

  it('a vault outside KEY_VAULT_HOST_SUFFIXES is not read: its accounts are unchecked and the run partial', async () => {
    const deps = estate([boundAccount('a1', v1.version, { binding: { vaultUri: 'https://kv.evil.example/', keyName: 'cmk', keyVersion: v1.version } })]);
    const reads = deps.keys.reads;
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.equal(deps.keys.reads, reads);
    assert.equal(summary.status, 'partial');
    assert.match(summary.errors.join(), /outside KEY_VAULT_HOST_SUFFIXES/);
  });

  it('DISCOVERY=arm with SUBSCRIPTION_IDS naming a subscription twice judges and counts each account once', async () => {
    const deps = estate([boundAccount('behind', v1.version), boundAccount('current', v2.version)], { sweepMode: 'enforce' });
    deps.discovery = new ScopedDiscovery(new ArmAccounts(deps.accounts, [SUB, SUB]), { lister: deps.accounts }) as never;
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    const stored = await deps.findings.list();
    assert.deepEqual([summary.accountsSeen, summary.findingsByCode, summary.remediationsQueued], [2, { 'version-drift': 1 }, 1]);
    assert.equal(stored.length, summary.findingsBySeverity.warning);
    assert.equal(deps.queue.jobs.length, 1);
  });

  it('an account discovery answers on two pages is judged and counted once', async () => {
    const deps = estate([boundAccount('behind', v1.version), boundAccount('current', v2.version)]);
    const behind = boundAccount('behind', v1.version);
    deps.discovery = { boundTo: deps.discovery.boundTo.bind(deps.discovery), async *cmkAccounts() {
      yield [behind, boundAccount('current', v2.version)];
      yield [structuredClone(behind)];
    } } as never;
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual([summary.status, summary.accountsSeen, summary.findingsByCode], ['completed', 2, { 'version-drift': 1 }]);
    assert.deepEqual(await codesOf(deps, 'behind'), ['version-drift']);
  });

  it('reads each key and bound version once, however many accounts are bound to it', async () => {
    const reads = async (n: number) => {
      const deps = estate(Array.from({ length: n }, (_, i) => boundAccount(`a${i}`, i % 2 ? v1.version : v2.version)), {}, 4);
      await runSweep('sweep-1', 'timer', deps, silentLogger());
      return deps.keys.reads;
    };
    assert.equal(await reads(24), await reads(2));
  });
});

describe('sweep, enforce mode', () => {
  const enforce = { sweepMode: 'enforce' } as const;

  it('queues a repair to the newest usable version for drift that ARM confirms, one per binding, scopes included', async () => {
    const deps = estate([boundAccount('behind', v1.version), boundAccount('current', v2.version)], enforce);
    deps.accounts.putScope(boundScope('current', 'p1', v1.version));
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual(jobs(deps).map((j) => [j.accountId, j.encryptionScope, j.targetVersion, j.trigger]).sort(), [
      [accountId('behind'), undefined, v2.version, 'sweep'],
      [accountId('current'), 'p1', v2.version, 'sweep'],
    ]);
    assert.equal(summary.remediationsQueued, 2);
    assert.deepEqual([...deps.ledger.rows.values()].map((r) => [r.status, r.fromVersion]), [['queued', v1.version], ['queued', v1.version]]);
  });

  it('a sweep run again (its message delivered again after a failed run) never queues one job id with another queued time', async () => {
    const deps = estate([boundAccount('behind', v1.version)], enforce);
    await runSweep('sweep-1', 'manual', deps, silentLogger());
    // The first run's repair has not run yet; the second run finds the same drift a minute later.
    (deps.clock as unknown as { advance(ms: number): void }).advance(60_000);
    await runSweep('sweep-1', 'manual', deps, silentLogger());
    const queued = jobs(deps);
    assert.equal(queued.length, 2);
    // The ledger keys a job's row by its queued time and id, and its index by the id: one id queued at two times would
    // leave GET /api/rotations/{jobId} reading one row while the job writes the other.
    const times = new Map<string, Set<string>>();
    for (const job of queued) times.set(job.jobId, (times.get(job.jobId) ?? new Set()).add(job.createdAt));
    assert.deepEqual([...times.values()].map((t) => t.size), [...times.keys()].map(() => 1), JSON.stringify(queued.map((j) => [j.jobId, j.createdAt])));
  });

  it('queues no repair when ARM already reports the newer version (discovery lagged)', async () => {
    const deps = estate([boundAccount('behind', v1.version)], enforce);
    deps.accounts.getAccount = async (id) => boundAccount('behind', v2.version, { id });
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual([deps.queue.jobs.length, summary.remediationsQueued], [0, 0]);
  });

  it('leaves pinned and opted-out accounts alone; a versionless binding gets a job that records it skipped, not a repair', async () => {
    const deps = estate([
      boundAccount('pinned', v1.version), boundAccount('out', v1.version, { tags: { 'cmk-rotator:opt-out': 'yes' } }), boundAccount('versionless', ''),
    ], enforce);
    await deps.pins.set({ accountId: accountId('pinned'), keyVersion: v1.version, actor: 'alice', reason: 'r', pinnedAt: now.toISOString(), jobId: 'job-1' });
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual(jobs(deps).map((j) => j.accountId), [accountId('versionless')]);
    assert.equal(summary.remediationsQueued, 0);
    assert.deepEqual(await codesOf(deps, 'versionless'), ['versionless-binding']);
  });

  it('NEAR_EXPIRY_ACTION=rotate rotates a key whose bound version nears expiry once, and binds every such account to it', async () => {
    const expiring = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z'), expiresOn: new Date(now.getTime() + 10 * DAY) });
    const deps = estate([boundAccount('a1', expiring.version), boundAccount('a2', expiring.version)], { ...enforce, nearExpiryAction: 'rotate' }, 1);
    deps.keys.add(expiring);
    await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual(deps.keys.rotations, ['cmk']);
    const rotated = deps.keys.versions.at(-1)?.version;
    assert.deepEqual(jobs(deps).map((j) => j.targetVersion), [rotated, rotated]);
  });

  it("NEAR_EXPIRY_ACTION=rotate leaves a rotation another holder claimed (a fan-out of the key's KeyNearExpiry) to it", async () => {
    const expiring = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z'), expiresOn: new Date(now.getTime() + 10 * DAY) });
    const deps = estate([boundAccount('a1', expiring.version)], { ...enforce, nearExpiryAction: 'rotate' });
    deps.keys.add(expiring);
    // The fan-out has claimed it and is rotating now.
    assert.deepEqual(await deps.rotationClaims.claim(VAULT, 'cmk', expiring.version, 'fan-1/message-1', 60_000), { claimed: true });
    const log = silentLogger();
    const summary = await runSweep('sweep-1', 'timer', deps, log);
    assert.deepEqual([deps.keys.rotations, deps.queue.jobs.length, summary.errors], [[], 0, []]);
    assert.ok(log.lines.some((l) => l.event === 'key.rotation-claimed' && l.fields.holder === 'fan-1/message-1' && l.fields.version === expiring.version));
  });

  it('NEAR_EXPIRY_ACTION=rotate binds, without rotating, a version another holder made after the sweep read the key (its claim since expired)', async () => {
    const expiring = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z'), expiresOn: new Date(now.getTime() + 10 * DAY) });
    const deps = estate([boundAccount('a1', expiring.version)], { ...enforce, nearExpiryAction: 'rotate' });
    deps.keys.add(expiring);
    // The sweep read the key long ago; a fan-out rotated since, and its claim expired before the sweep's last page.
    const claim = deps.rotationClaims.claim.bind(deps.rotationClaims);
    deps.rotationClaims.claim = async (...args) => {
      await deps.keys.rotateKey(VAULT, 'cmk');
      return claim(...args);
    };
    const log = silentLogger();
    await runSweep('sweep-1', 'timer', deps, log);
    const made = deps.keys.versions.at(-1)?.version;
    assert.deepEqual(deps.keys.rotations, ['cmk'], "the fan-out's rotation only");
    assert.deepEqual(jobs(deps).map((j) => j.targetVersion), [made]);
    assert.equal(log.lines.some((l) => l.event === 'key.rotated'), false);
  });

  it('NEAR_EXPIRY_ACTION=rotate does not rotate a key whose newer current version is not usable: a rotation would make another like it, sweep after sweep', async () => {
    const expiring = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z'), expiresOn: new Date(now.getTime() + 10 * DAY) });
    // The key's current version, made by a rotation since, is 4096-bit: outside ALLOWED_KEY_SIZES (2048).
    const wide = keyVersion(hex(4), { createdOn: new Date('2026-05-01T00:00:00Z'), keySize: 4096 });
    const deps = estate([boundAccount('a1', expiring.version)], { ...enforce, nearExpiryAction: 'rotate' });
    deps.keys.add(expiring, wide);
    const log = silentLogger();
    for (const sweepId of ['sweep-1', 'sweep-2']) {
      await runSweep(sweepId, 'timer', deps, log);
      // A claim lasts 15 minutes; the next sweep comes an hour later.
      deps.rotationClaims.claims.clear();
    }
    assert.deepEqual([deps.keys.rotations, deps.queue.jobs.length], [[], 0]);
    const said = log.lines.filter((l) => l.event === 'key.not-rotated').map((l) => l.fields.reason);
    assert.deepEqual(said, Array(2).fill(`its current version ${wide.version}, newer than ${expiring.version}, is not usable (unsupported-key-size), and a rotation would make another like it`));
    assert.ok((await codesOf(deps, 'a1')).includes('key-near-expiry'), 'the account is still reported');
  });

  it('report mode queues nothing and rotates nothing for the same estate', async () => {
    const deps = estate([boundAccount('behind', v1.version), boundAccount('versionless', '')], { nearExpiryAction: 'rotate' });
    await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.deepEqual([deps.queue.jobs.length, deps.ledger.rows.size, deps.keys.rotations.length], [0, 0, 0]);
  });
});

describe('sweep, many accounts to a page', () => {
  it('stores the verdict of every account of a page, more than are judged at once, and none again the next time', async () => {
    const names = Array.from({ length: 100 }, (_, i) => `many-${String(i).padStart(3, '0')}`);
    const deps = estate(names.map((name) => boundAccount(name, v1.version)), {}, 60);
    await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.equal(deps.findings.written.length, 100);
    const drifting = await Promise.all(names.map((name) => codesOf(deps, name)));
    assert.ok(drifting.every((codes) => codes.join() === 'version-drift'));
    await runSweep('sweep-2', 'timer', deps, silentLogger());
    assert.equal(deps.findings.written.length, 100, 'nothing changed, nothing written');
  });
});
