import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DisableCmkJob, SwitchKeyJob } from '../../shared/domain/jobs';
import type { AccountState } from '../../shared/domain/model';
import { DependencyError } from '../../shared/errors';
import { runDisableCmk, runSwitchKey } from '../../shared/usecases/encryptionChange';
import { requestEncryptionChange } from '../../shared/usecases/manual';
import { accountId, boundAccount, estateDeps, hex, keyVersion, silentLogger, VAULT } from '../support/fakes';

// Switching an account to another key of its vault, and back to Microsoft-managed keys, with in-memory fakes:
// from the request to what the worker leaves on the account, its row and its pin.

const now = new Date('2026-06-01T00:00:00Z');
const v1 = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
const next = (n: number, over = {}) => keyVersion(hex(n), { keyName: 'cmk-new', createdOn: new Date(`2026-0${n}-01T00:00:00Z`), ...over });

function estate(account: AccountState = boundAccount('a1', v1.version)) {
  const deps = estateDeps();
  deps.keys.add(v1, next(2), next(3), next(4, { enabled: false }));
  deps.accounts.put(account);
  return deps;
}

/** Runs the one queued job through its worker. */
async function work(deps: ReturnType<typeof estate>) {
  const [queued] = deps.queue.jobs.splice(0);
  assert.ok(queued, 'a job was queued');
  const job = queued.job;
  if (job.kind === 'switch-key') return runSwitchKey(job, 1, deps, silentLogger());
  if (job.kind === 'disable-cmk') return runDisableCmk(job, 1, deps, silentLogger());
  throw new Error(`unexpected ${job.kind}`);
}

const rowOf = (deps: ReturnType<typeof estate>) => [...deps.ledger.rows.values()][0];
const pinA1 = { accountId: accountId('a1'), keyVersion: v1.version, actor: 'alice', reason: 'r', pinnedAt: now.toISOString(), jobId: 'job-pin' };

describe('switch key', () => {
  it('binds the new key\'s newest usable version, keeping the vault and identity, and releases a pin', async () => {
    const deps = estate();
    await deps.pins.set(pinA1);
    const queued = await requestEncryptionChange({ accountId: accountId('a1'), keyName: 'cmk-new' }, 'ops', deps);
    assert.deepEqual(queued.ok && [queued.value.kind, queued.value.status], ['switch-key', 'queued']);
    await work(deps);
    const account = await deps.accounts.getAccount(accountId('a1'));
    assert.deepEqual(account?.binding, { vaultUri: VAULT, keyName: 'cmk-new', keyVersion: hex(3) }, 'v4 is disabled: v3 is the newest usable');
    assert.deepEqual([rowOf(deps)?.status, rowOf(deps)?.fromVersion, rowOf(deps)?.toVersion], ['succeeded', v1.version, hex(3)]);
    assert.equal(await deps.pins.get(accountId('a1')), undefined);
  });

  it('an account already on that key\'s newest usable version is already-current, with no PATCH', async () => {
    const deps = estate(boundAccount('a1', hex(3), { binding: { vaultUri: VAULT, keyName: 'cmk-new', keyVersion: hex(3) } }));
    const job: SwitchKeyJob = { kind: 'switch-key', jobId: 'job-00000001', trigger: 'manual', createdAt: now.toISOString(), vaultUri: VAULT, keyName: 'cmk-new', accountId: accountId('a1'), priorAttempts: 0 };
    const result = await runSwitchKey(job, 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'already-current');
    assert.equal(deps.accounts.patches.length, 0);
  });

  it('a job whose account moved to another vault meanwhile is skipped, with no PATCH', async () => {
    const deps = estate(boundAccount('a1', v1.version, { binding: { vaultUri: 'https://kv-two.vault.azure.net/', keyName: 'cmk', keyVersion: v1.version } }));
    const job: SwitchKeyJob = { kind: 'switch-key', jobId: 'job-00000001', trigger: 'manual', createdAt: now.toISOString(), vaultUri: VAULT, keyName: 'cmk-new', accountId: accountId('a1'), priorAttempts: 0 };
    const result = await runSwitchKey(job, 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'skipped');
    assert.equal(deps.accounts.patches.length, 0);
  });

  const refused: Array<[string, { keyName: string; vaultUri?: string }, string]> = [
    ['a key in another vault', { keyName: 'cmk-new', vaultUri: 'https://kv-two.vault.azure.net/' }, 'other-vault'],
    ['the key it is already bound to', { keyName: 'cmk' }, 'key-not-usable'],
    ['a key with no usable version', { keyName: 'no-such-key' }, 'key-not-usable'],
  ];
  for (const [what, req, code] of refused) {
    it(`refuses ${what} (${code}) and queues nothing`, async () => {
      const deps = estate();
      const result = await requestEncryptionChange({ accountId: accountId('a1'), ...req }, 'ops', deps);
      assert.equal(result.ok ? undefined : result.refusal.code, code);
      assert.equal(deps.queue.jobs.length + deps.ledger.rows.size, 0);
    });
  }

  it('a versionless binding stays versionless on the new key, whose current version it then uses', async () => {
    const deps = estate(boundAccount('a1', ''));
    deps.keys.add(keyVersion(hex(5), { keyName: 'cmk-other', createdOn: new Date('2026-05-01T00:00:00Z') }));
    const queued = await requestEncryptionChange({ accountId: accountId('a1'), keyName: 'cmk-other' }, 'ops', deps);
    assert.ok(queued.ok, 'queued');
    await work(deps);
    assert.deepEqual(deps.accounts.patches.map((p) => p.change), [{ keySource: 'Microsoft.KeyVault', binding: { vaultUri: VAULT, keyName: 'cmk-other', keyVersion: '' } }]);
    assert.deepEqual((await deps.accounts.getAccount(accountId('a1')))?.binding, { vaultUri: VAULT, keyName: 'cmk-other', keyVersion: '' });
    const row = rowOf(deps);
    assert.deepEqual([row?.status, row?.keyName, row?.fromVersion, row?.toVersion], ['succeeded', 'cmk-other', undefined, ''], "toVersion '': no version");
    assert.equal(row?.reason, `switch-key from cmk, versionless (the account uses cmk-other's current version, ${hex(5)}); verified: the account reports the change and Succeeded`);
  });

  it("a versionless switch is refused when the key's current version is not usable, although an older one is: at the request and in the worker", async () => {
    const deps = estate(boundAccount('a1', ''));
    const refused = await requestEncryptionChange({ accountId: accountId('a1'), keyName: 'cmk-new' }, 'ops', deps);
    assert.equal(refused.ok ? undefined : refused.refusal.detail, `a1: key cmk-new's current version ${hex(4)}, which the versionless binding would use, does not pass preflight (key-disabled) (preflight: enabled, valid, RSA 2048, wrapKey+unwrapKey)`);
    assert.equal(deps.queue.jobs.length, 0);
    const job: SwitchKeyJob = { kind: 'switch-key', jobId: 'job-00000001', trigger: 'manual', createdAt: now.toISOString(), vaultUri: VAULT, keyName: 'cmk-new', accountId: accountId('a1'), priorAttempts: 0 };
    const result = await runSwitchKey(job, 1, deps, silentLogger());
    assert.deepEqual(result.outcome === 'recorded' && [result.record.status, result.record.reason], ['refused', `no-usable-version: key cmk-new's current version ${hex(4)}, which the versionless binding would use, does not pass preflight (key-disabled)`]);
    assert.equal(deps.accounts.patches.length, 0);
  });

  it("a binding made versionless between attempts is switched versionless, and the row drops the earlier attempt's version", async () => {
    const deps = estate();
    const job: SwitchKeyJob = { kind: 'switch-key', jobId: 'job-00000001', trigger: 'manual', createdAt: now.toISOString(), vaultUri: VAULT, keyName: 'cmk-new', accountId: accountId('a1'), priorAttempts: 0 };
    const patch = deps.accounts.updateEncryption.bind(deps.accounts);
    deps.accounts.updateEncryption = async () => {
      throw new DependencyError('TooManyRequests', 'throttled', { retryable: true, statusCode: 429, notApplied: true });
    };
    await runSwitchKey(job, 1, deps, silentLogger());
    assert.deepEqual([rowOf(deps)?.status, rowOf(deps)?.toVersion], ['running', hex(3)], 'attempt 1 aimed at v3 and sent nothing that landed');
    // Before the next attempt the owner makes the binding versionless, and the key gets a usable current version.
    deps.accounts.put(boundAccount('a1', ''));
    deps.keys.add(next(5));
    deps.accounts.updateEncryption = patch;
    const result = await runSwitchKey({ ...job, priorAttempts: 1 }, 2, deps, silentLogger());
    assert.deepEqual(result.outcome === 'recorded' && [result.record.status, result.record.toVersion], ['succeeded', '']);
    assert.deepEqual([rowOf(deps)?.status, rowOf(deps)?.toVersion], ['succeeded', ''], 'the stored row names no version either');
    assert.deepEqual((await deps.accounts.getAccount(accountId('a1')))?.binding, { vaultUri: VAULT, keyName: 'cmk-new', keyVersion: '' });
  });

  it('refuses an account whose vault is outside KEY_VAULT_HOST_SUFFIXES, and one that does not exist', async () => {
    const deps = estate(boundAccount('a1', v1.version, { binding: { vaultUri: 'https://kv.evil.example/', keyName: 'cmk', keyVersion: v1.version } }));
    const evil = await requestEncryptionChange({ accountId: accountId('a1'), keyName: 'cmk-new' }, 'ops', deps);
    const missing = await requestEncryptionChange({ accountId: accountId('nope'), keyName: 'cmk-new' }, 'ops', deps);
    assert.deepEqual([evil, missing].map((r) => (r.ok ? undefined : r.refusal.code)), ['vault-not-allowed', 'account-not-found']);
    assert.equal(deps.queue.jobs.length, 0);
  });
});

describe('disable CMK', () => {
  it('moves the account to Microsoft-managed keys and releases a pin', async () => {
    const deps = estate();
    await deps.pins.set(pinA1);
    const queued = await requestEncryptionChange({ accountId: accountId('a1'), keySource: 'Microsoft.CognitiveServices', confirm: 'a1' }, 'ops', deps);
    assert.equal(queued.ok && queued.value.kind, 'disable-cmk');
    await work(deps);
    assert.equal((await deps.accounts.getAccount(accountId('a1')))?.keySource, 'Microsoft.CognitiveServices');
    assert.equal(rowOf(deps)?.status, 'succeeded');
    assert.equal(await deps.pins.get(accountId('a1')), undefined);
  });

  it('an account already on Microsoft-managed keys is already-current, with no PATCH', async () => {
    const deps = estate(boundAccount('a1', '', { keySource: 'Microsoft.CognitiveServices', binding: undefined as never }));
    const job: DisableCmkJob = { kind: 'disable-cmk', jobId: 'job-00000001', trigger: 'manual', createdAt: now.toISOString(), vaultUri: VAULT, keyName: 'cmk', accountId: accountId('a1'), priorAttempts: 0 };
    const result = await runDisableCmk(job, 1, deps, silentLogger());
    assert.equal(result.outcome === 'recorded' && result.record.status, 'already-current');
    assert.equal(deps.accounts.patches.length, 0);
  });
});
