import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FanOutJob, RebindJob } from '../../shared/domain/jobs';
import type { AccountState } from '../../shared/domain/model';
import { versionOrder } from '../../shared/domain/keys';
import { findingKey } from '../../shared/domain/verdicts';
import { bindingsTo, cmkBindings, evaluateScope } from '../../shared/domain/scopes';
import { fanOut } from '../../shared/usecases/fanOut';
import { runRebind } from '../../shared/usecases/rebind';
import { accessPolicyVault, boundAccount, boundScope, estateDeps, hex, keyVersion, rebindDeps, silentLogger, VAULT } from '../support/fakes';

// Encryption scopes carry their own binding and follow the account's rules, under the account's lease (DESIGN §2a).

const now = new Date('2026-06-01T00:00:00Z');
const v1 = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
const v2 = keyVersion(hex(2), { createdOn: new Date('2026-03-01T00:00:00Z') });
const policy = { allowedKeySizes: [2048], expiryMarginMs: 24 * 3_600_000 };

describe('the bindings of an account', () => {
  const other = { vaultUri: 'https://kv-two.vault.azure.net/', keyName: 'cmk', keyVersion: v1.version };
  const account = {
    ...boundAccount('a1', v1.version, { binding: other }),
    encryptionScopes: [boundScope('a1', 'p1', v1.version), boundScope('a1', 'mmk', '', { keySource: 'Microsoft.CognitiveServices', binding: undefined as never })],
  };
  it('are its own Key Vault binding and each Key Vault scope, in that order; a Microsoft-managed scope has none', () => {
    assert.deepEqual(cmkBindings(account).map((t) => t.scope?.name ?? 'account'), ['account', 'p1']);
  });
  it('to one key: the scope matches though the account is bound to another vault', () => {
    assert.deepEqual(bindingsTo(account, { vaultUri: VAULT, keyName: 'CMK' }).map((t) => t.scope?.name), ['p1']);
  });
  it('findings of a scope name it in their identity and evidence; identity findings stay the account\'s', () => {
    const findings = evaluateScope({
      account: { ...account, identity: { type: 'UserAssigned' } }, key: { status: 'ok', order: versionOrder(undefined), bound: v1, newestUsable: v2 },
      vault: { status: 'not-found' }, policy, nearExpiryDays: 30, now,
    }, boundScope('a1', 'p1', v1.version));
    assert.deepEqual(findings.map(findingKey).sort(), ['vault-unreadable~p1', 'version-drift~p1']);
    assert.equal(findings.find((f) => f.code === 'version-drift')?.evidence['encryptionScope'], 'p1');
    assert.equal(findings.find((f) => f.code === 'version-drift')?.evidence['boundVersion'], v1.version);
  });
  const judged = (on: AccountState, scope = boundScope('a1', 'p1', v2.version)) => evaluateScope({
    account: on, key: { status: 'ok', order: versionOrder(undefined), bound: v2, newestUsable: v2 }, vault: { status: 'ok', vault: accessPolicyVault({}, ['p', 'u']) },
    policy, nearExpiryDays: 30, now,
  }, scope).map(findingKey);
  it('an account on Microsoft-managed keys without an identity: its Key Vault scope reports identity-missing (nothing else judges the account)', () => {
    const mmk = boundAccount('a1', '', { keySource: undefined as never, binding: undefined as never, identity: undefined as never });
    assert.deepEqual(judged(mmk), ['identity-missing~p1']);
  });
  it("a scope read by a user-assigned identity on an OpenAI account whose own binding uses the system-assigned one: the scope reports it", () => {
    const both = boundAccount('a1', v2.version, {
      identity: { type: 'SystemAssigned, UserAssigned', principalId: 'p', tenantId: 't', userAssignedIdentities: { '/uai/one': { principalId: 'u', clientId: 'c1' } } },
    });
    assert.deepEqual(judged(both), []);
    assert.deepEqual(judged(both, boundScope('a1', 'p1', v2.version, { binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: v2.version, identityClientId: 'c1' } })), ['identity-not-system-assigned~p1']);
  });
});

describe('a rebind job for a scope', () => {
  function deps(scopeVersion = v1.version) {
    const d = rebindDeps();
    d.keys.add(v1, v2);
    d.accounts.put(boundAccount('a1', v2.version)).putScope(boundScope('a1', 'p1', scopeVersion));
    return d;
  }
  const job = (over: Partial<RebindJob> = {}): RebindJob => ({
    kind: 'rebind', jobId: 'job-scope-1', trigger: 'event', createdAt: now.toISOString(), vaultUri: VAULT, keyName: 'cmk',
    accountId: boundAccount('a1', v1.version).id, encryptionScope: 'p1', targetVersion: v2.version, force: false, priorAttempts: 0, ...over,
  });

  it('PUTs the scope only, under the account\'s lease, and the row names the scope', async () => {
    const d = deps();
    const result = await runRebind(job(), 1, d, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'succeeded');
    assert.deepEqual(d.accounts.patches.map((p) => [p.scope, p.change.binding?.keyVersion]), [['p1', v2.version]]);
    const row = result.outcome === 'recorded' ? result.record : undefined;
    assert.deepEqual([row?.encryptionScope, row?.fromVersion, row?.toVersion], ['p1', v1.version, v2.version]);
    assert.equal(d.journal.leases.get(job().accountId.toLowerCase())?.holder, '', 'the account lease was taken and released');
  });
  it('waits while the account holds its lease for another job (one writer per account, its scopes included)', async () => {
    const d = deps();
    d.journal.leases.set(job().accountId.toLowerCase(), { holder: 'other-job', expiresAt: new Date(now.getTime() + 60_000).toISOString(), etag: 'e0' });
    const result = await runRebind(job(), 1, d, silentLogger());
    assert.equal(result.outcome, 'deferred');
    assert.equal(d.accounts.patches.length, 0);
  });
  it('waits while the account is busy: ARM refuses writes to its scopes then', async () => {
    const d = deps();
    d.accounts.put(boundAccount('a1', v2.version, { provisioningState: 'Accepted' }));
    assert.equal((await runRebind(job(), 1, d, silentLogger())).outcome, 'deferred');
    assert.equal(d.accounts.patches.length, 0);
  });
  it('is skipped when the scope is gone, and a versionless scope is left alone', async () => {
    const gone = await runRebind(job({ encryptionScope: 'p9' }), 1, deps(), silentLogger());
    assert.match(gone.outcome === 'recorded' ? gone.record.reason ?? '' : '', /^scope-missing/);
    const d = deps('');
    const left = await runRebind(job(), 1, d, silentLogger());
    assert.deepEqual([left.outcome === 'recorded' && left.record.status, d.accounts.patches.length], ['skipped', 0]);
    assert.match(left.outcome === 'recorded' ? left.record.reason ?? '' : '', /^versionless/);
  });
});

describe('fan-out of a key event', () => {
  it('queues one job per binding to the key: the account and each scope, with ids from the parent job, account and scope', async () => {
    const d = estateDeps();
    d.keys.add(v1, v2);
    d.accounts.put(boundAccount('a1', v1.version), boundAccount('a2', v1.version, { keySource: undefined as never, binding: undefined as never }));
    d.accounts.putScope(boundScope('a1', 'p1', v1.version), boundScope('a2', 'p2', v1.version));
    const parent: FanOutJob = { kind: 'fan-out', jobId: 'fan-1', trigger: 'event', createdAt: now.toISOString(), vaultUri: VAULT, keyName: 'cmk', targetVersion: v2.version, force: false, action: 'bind' };
    const result = await fanOut(parent, d, silentLogger());
    assert.deepEqual(result, { bound: 3, queued: 3 });
    const jobs = d.queue.jobs.map(({ job }) => job as RebindJob);
    assert.deepEqual(jobs.map((j) => `${j.accountId.split('/').pop()}:${j.encryptionScope ?? ''}`).sort(), ['a1:', 'a1:p1', 'a2:p2']);
    assert.equal(new Set(jobs.map((j) => j.jobId)).size, 3);
    await fanOut(parent, d, silentLogger());
    assert.deepEqual(d.queue.jobs.slice(3).map(({ job }) => job.jobId), jobs.map((j) => j.jobId), 'a re-delivered event names the same jobs');
    assert.deepEqual([...d.ledger.rows.values()].map((r) => r.encryptionScope ?? '').sort(), ['', 'p1', 'p2']);
  });
});
