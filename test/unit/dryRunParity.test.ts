import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArmAccounts } from '../../shared/adapters/armDiscovery';
import { ScopedDiscovery } from '../../shared/adapters/scopeDiscovery';
import type { RebindJob } from '../../shared/domain/jobs';
import type { AccountState, EncryptionScopeState, RotationRecord } from '../../shared/domain/model';
import type { RotationRequest } from '../../shared/domain/requests';
import { requestRotation } from '../../shared/usecases/manual';
import { runRebind } from '../../shared/usecases/rebind';
import { planRotation, type PlanLine } from '../../shared/usecases/rotationPlan';
import { accountId, boundAccount, boundScope, FakeDiscovery, hex, keyVersion, rebindDeps, silentLogger, SUB, VAULT } from '../support/fakes';

// The API's dry run and the worker plan with one function: for the same estate and request, the dry run's line
// is what the worker then does with the job the request queues.

const OPT_OUT = 'cmk-rotator:opt-out';
const v1 = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
const v2 = keyVersion(hex(2), { createdOn: new Date('2026-03-01T00:00:00Z') });
const disabled = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z'), enabled: false });

function estate(accounts: AccountState[]) {
  const base = rebindDeps();
  base.keys.add(v1, disabled, v2);
  base.accounts.put(...accounts);
  return { ...base, discovery: new FakeDiscovery(base.accounts), isAllowedVault: () => true, optOutTag: OPT_OUT, nearExpiryDays: 30, findings: undefined as never };
}

/** The dry run's lines, then what the worker recorded for each job the same request queued, in the same order. */
async function dryRunThenWorker(deps: ReturnType<typeof estate>, req: RotationRequest): Promise<Array<{ line: PlanLine; row: RotationRecord | undefined }>> {
  const plan = await planRotation(req, 'ops@contoso.com', deps);
  assert.ok(plan.ok, 'the dry run answers a plan');
  const queued = await requestRotation(req, 'ops@contoso.com', deps);
  assert.ok(queued.ok, 'the request is queued');
  const rows: Array<RotationRecord | undefined> = [];
  for (const { job } of deps.queue.jobs.splice(0)) {
    const outcome = await runRebind(job as RebindJob, 1, deps, silentLogger());
    rows.push(outcome.outcome === 'deferred' ? undefined : outcome.record);
  }
  assert.equal(rows.length, plan.value.length, 'one job per planned line');
  return plan.value.map((line, i) => ({ line, row: rows[i] }));
}

/** The worker's row as a dry-run line would state it: a verified change is the plan's patch. */
function asDecided(row: RotationRecord | undefined) {
  return { decision: row?.status === 'succeeded' ? 'patch' : row?.status, toVersion: row?.status === 'succeeded' ? row.toVersion : undefined };
}

async function assertSame(deps: ReturnType<typeof estate>, req: RotationRequest, expected: PlanLine['decision']): Promise<Array<{ line: PlanLine; row: RotationRecord | undefined }>> {
  const pairs = await dryRunThenWorker(deps, req);
  for (const { line, row } of pairs) {
    assert.deepEqual({ decision: line.decision, toVersion: line.decision === 'patch' ? line.toVersion : undefined }, asDecided(row));
    assert.equal(line.decision, expected);
    // The plan's own reason (before any pin note) is the one the worker recorded first.
    const head = line.reason?.split('; ')[0];
    if (head && !head.startsWith('would ')) assert.ok(row?.reason?.startsWith(head), `worker's "${row?.reason}" starts with the dry run's "${head}"`);
  }
  return pairs;
}

describe("the dry run's plan is the worker's decision", () => {
  it('a newer usable version: both bind it', async () => {
    const deps = estate([boundAccount('a1', v1.version)]);
    const [pair] = await assertSame(deps, { accountId: accountId('a1') }, 'patch');
    assert.equal(pair?.line.toVersion, v2.version);
  });

  it('already on the newest usable version: both say already-current', async () => {
    await assertSame(estate([boundAccount('a1', v2.version)]), { accountId: accountId('a1') }, 'already-current');
  });

  it('a versionless binding: both leave it, unless a person names the version, which both bind', async () => {
    const versionless = boundAccount('a1', '');
    await assertSame(estate([versionless]), { accountId: accountId('a1') }, 'skipped');
    const [pair] = await assertSame(estate([versionless]), { accountId: accountId('a1'), keyVersion: v2.version }, 'patch');
    assert.match(pair?.line.reason ?? '', /^versionless binding set to version/);
  });

  it('rotateKey names no version: both leave a versionless binding, and both bind the new version elsewhere', async () => {
    const deps = estate([boundAccount('a1', ''), boundAccount('a2', v1.version)]);
    const pairs = await dryRunThenWorker(deps, { vaultUri: VAULT, keyName: 'cmk', rotateKey: true });
    const byAccount = new Map(pairs.map((p) => [p.line.accountId, p]));
    assert.deepEqual([byAccount.get(accountId('a1'))?.line.decision, byAccount.get(accountId('a1'))?.row?.status], ['skipped', 'skipped']);
    assert.match(byAccount.get(accountId('a1'))?.line.reason ?? '', /^versionless/);
    assert.deepEqual([byAccount.get(accountId('a2'))?.line.decision, byAccount.get(accountId('a2'))?.row?.status], ['patch', 'succeeded']);
  });

  it("rotateKey for an identity the vault does not grant: both refuse it with the preflight's reason, and bind the new version elsewhere", async () => {
    const deps = estate([boundAccount('a1', v1.version, { identity: { type: 'SystemAssigned', principalId: 'q', tenantId: 't' } }), boundAccount('a2', v1.version)]);
    const pairs = await dryRunThenWorker(deps, { vaultUri: VAULT, keyName: 'cmk', rotateKey: true });
    const [refused, bound] = [accountId('a1'), accountId('a2')].map((id) => pairs.find((p) => p.line.accountId === id));
    assert.deepEqual([refused?.line.decision, refused?.row?.status], ['refused', 'refused']);
    assert.match(refused?.line.reason ?? '', /^access-missing: access policies of kv-one grant q no get, wrapKey, unwrapKey/);
    assert.equal(refused?.line.reason, refused?.row?.reason, "the dry run's reason is the worker's");
    assert.deepEqual([bound?.line.decision, bound?.row?.status], ['patch', 'succeeded']);
  });

  it('an older version without force: both refuse the downgrade (stale-target)', async () => {
    const [pair] = await assertSame(estate([boundAccount('a1', v2.version)]), { accountId: accountId('a1'), keyVersion: v1.version }, 'skipped');
    assert.match(pair?.line.reason ?? '', /^stale-target/);
  });

  it('an older version with force: both move it back, and the binding is pinned as the dry run said', async () => {
    const deps = estate([boundAccount('a1', v2.version)]);
    const [pair] = await assertSame(deps, { accountId: accountId('a1'), keyVersion: v1.version, force: true, reason: 'rollback' }, 'patch');
    assert.equal(pair?.line.reason, `forced downgrade by ops@contoso.com: rollback; would pin to ${v1.version}`);
    assert.equal((await deps.pins.get(accountId('a1')))?.keyVersion, v1.version);
  });

  it('a pinned binding asked for by a person: both release the pin and bind the newest', async () => {
    const deps = estate([boundAccount('a1', v1.version)]);
    await deps.pins.set({ accountId: accountId('a1'), keyVersion: v1.version, actor: 'alice', reason: 'incident', pinnedAt: '2026-05-01T00:00:00Z', jobId: 'old' });
    const [pair] = await assertSame(deps, { accountId: accountId('a1') }, 'patch');
    assert.equal(pair?.line.reason, `would release the pin to ${v1.version} set by alice`);
    assert.equal(await deps.pins.get(accountId('a1')), undefined);
  });

  it('an unusable version named: both refuse it', async () => {
    const [pair] = await assertSame(estate([boundAccount('a1', v1.version)]), { accountId: accountId('a1'), keyVersion: disabled.version }, 'refused');
    assert.match(pair?.line.reason ?? '', /disabled/);
  });

  it("every binding to a key, scopes too, but not an opted-out account's: each line is its job's outcome", async () => {
    const deps = estate([boundAccount('a1', v1.version), boundAccount('a2', v2.version), boundAccount('out', v1.version, { tags: { [OPT_OUT]: 'true' } })]);
    deps.accounts.putScope(boundScope('a2', 'tenant-1', v1.version));
    const pairs = await dryRunThenWorker(deps, { vaultUri: VAULT, keyName: 'cmk' });
    const lines = pairs.map(({ line }) => [line.accountId, line.encryptionScope ?? '', line.decision]);
    assert.deepEqual(lines, [[accountId('a1'), '', 'patch'], [accountId('a2'), '', 'already-current'], [accountId('a2'), 'tenant-1', 'patch']]);
    for (const { line, row } of pairs) assert.deepEqual({ decision: line.decision, toVersion: line.decision === 'patch' ? line.toVersion : undefined }, asDecided(row));
    assert.equal(deps.accounts.patches.some((p) => p.accountId === accountId('out')), false, 'the opted-out account is neither planned nor changed');
  });
});

describe('the dry run of a scope found through the scope index', () => {
  // The index holds each scope as the last sweep saw it; the worker reads the scope through ARM before it acts.
  function indexedEstate(indexed: EncryptionScopeState) {
    const deps = estate([boundAccount('a1', v2.version, { keySource: undefined as never, binding: undefined as never })]);
    const index = { boundTo: async () => [{ accountId: accountId('a1'), tags: {}, scope: indexed }] };
    deps.discovery = new ScopedDiscovery(new ArmAccounts(deps.accounts, [SUB]), { lister: deps.accounts, index }) as never;
    return deps;
  }

  it('a scope rebound since the sweep indexed it: both say already-current, from the version ARM shows', async () => {
    const deps = indexedEstate(boundScope('a1', 'p1', v1.version));
    deps.accounts.putScope(boundScope('a1', 'p1', v2.version));
    const [pair] = await assertSame(deps, { vaultUri: VAULT, keyName: 'cmk' }, 'already-current');
    assert.equal(pair?.line.fromVersion, v2.version, 'the line starts where the scope is, as the worker records it');
    assert.equal(pair?.row?.fromVersion, v2.version);
  });

  it('a scope deleted since the sweep indexed it: both skip it as missing', async () => {
    const deps = indexedEstate(boundScope('a1', 'p1', v1.version));
    const [pair] = await assertSame(deps, { vaultUri: VAULT, keyName: 'cmk' }, 'skipped');
    assert.match(pair?.line.reason ?? '', /^scope-missing/);
  });
});

/** A rotateKey by key whose one binding moved to another key: the dry run skips it, the request refuses, nothing rotates. */
async function bindingChangedNotRotated(deps: Parameters<typeof requestRotation>[2] & { keys: { rotations: string[] } }): Promise<void> {
  const req = { vaultUri: VAULT, keyName: 'cmk', rotateKey: true };
  const plan = await planRotation(req, 'ops@contoso.com', deps);
  assert.deepEqual(plan.ok && plan.value.map((l) => [l.decision, l.reason?.split(':')[0]]), [['skipped', 'binding-changed']], JSON.stringify(plan));
  const result = await requestRotation(req, 'ops@contoso.com', deps);
  assert.equal(result.ok ? undefined : result.refusal.code, 'preflight-refused');
  assert.deepEqual(deps.keys.rotations, []);
}

describe('rotateKey for a scope the scope index found, moved to another key since', () => {
  it('the dry run skips it as the worker does (binding-changed), and the request, with no other binding, does not rotate the key', async () => {
    const base = rebindDeps();
    base.keys.add(v1, v2);
    base.accounts.put(boundAccount('a1', v2.version, { keySource: undefined as never, binding: undefined as never }));
    base.accounts.putScope(boundScope('a1', 'p1', v1.version, { binding: { vaultUri: VAULT, keyName: 'cmk-other', keyVersion: v1.version } }));
    const index = { boundTo: async () => [{ accountId: accountId('a1'), tags: {}, scope: boundScope('a1', 'p1', v1.version) }] };
    const deps = { ...base, discovery: new ScopedDiscovery(new ArmAccounts(base.accounts, [SUB]), { lister: base.accounts, index }) as never, isAllowedVault: () => true, optOutTag: OPT_OUT, nearExpiryDays: 30, findings: undefined as never };
    await bindingChangedNotRotated(deps);
  });
});

describe('rotateKey for an account discovery found, moved to another key since (Resource Graph lags behind ARM)', () => {
  it('the dry run skips it as the request and the worker do (binding-changed), and the key is not rotated', async () => {
    const base = rebindDeps();
    base.keys.add(v1, v2);
    const found = boundAccount('a1', v1.version);
    base.accounts.put(boundAccount('a1', v1.version, { binding: { vaultUri: VAULT, keyName: 'cmk-other', keyVersion: v1.version } }));
    const lagging = { boundTo: async function* () { yield [found]; }, cmkAccounts: async function* () { yield [found]; } };
    const deps = { ...base, discovery: lagging, isAllowedVault: () => true, optOutTag: OPT_OUT, nearExpiryDays: 30, findings: undefined as never };
    await bindingChangedNotRotated(deps);
  });
});
