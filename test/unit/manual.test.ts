import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RebindJob } from '../../shared/domain/jobs';
import type { AccountState } from '../../shared/domain/model';
import type { RotationRequest } from '../../shared/domain/requests';
import { requestRotation } from '../../shared/usecases/manual';
import { planRotation } from '../../shared/usecases/rotationPlan';
import { runRebind } from '../../shared/usecases/rebind';
import { accountId, boundAccount, boundScope, estateDeps, hex, keyVersion, silentLogger, VAULT } from '../support/fakes';

// A person's rotation requests with in-memory fakes: the plan a dry run returns, the jobs a request queues,
// and what the worker then makes of them (pins).

const v1 = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
const v2 = keyVersion(hex(2), { createdOn: new Date('2026-03-01T00:00:00Z') });
const EVIL = 'https://kv.evil.example/';
const HSM = 'https://hsm-one.managedhsm.azure.net/';

function estate(...accounts: AccountState[]) {
  const deps = estateDeps();
  deps.keys.add(v1, v2);
  deps.accounts.put(...accounts);
  return deps;
}

/** Nothing written, queued, patched, pinned or rotated. */
function untouched(deps: ReturnType<typeof estate>): void {
  assert.deepEqual([deps.ledger.writes.length, deps.queue.jobs.length, deps.accounts.patches.length, deps.pins.pins.size, deps.keys.rotations.length], [0, 0, 0, 0, 0]);
}

/** Runs every queued job through the worker, as the queue would. */
async function work(deps: ReturnType<typeof estate>): Promise<void> {
  for (const { job } of deps.queue.jobs.splice(0)) await runRebind(job as RebindJob, 1, deps, silentLogger());
}

describe('dry run (planRotation)', () => {
  it('plans each binding to the key, scopes included and opted-out accounts left out, and writes nothing', async () => {
    const deps = estate(boundAccount('a1', v1.version), boundAccount('current', v2.version), boundAccount('out', v1.version, { tags: { 'cmk-rotator:opt-out': 'true' } }));
    deps.accounts.putScope(boundScope('a1', 'p1', v1.version));
    const plan = await planRotation({ vaultUri: VAULT, keyName: 'cmk' }, 'ops', deps);
    assert.ok(plan.ok);
    assert.deepEqual(plan.value.map((l) => [l.accountId.split('/').pop(), l.encryptionScope, l.toVersion, l.decision]).sort(), [
      ['a1', undefined, v2.version, 'patch'],
      ['a1', 'p1', v2.version, 'patch'],
      ['current', undefined, v2.version, 'already-current'],
    ]);
    untouched(deps);
  });

  it('an older version is a patch only when forced, and then the plan says the account would be pinned', async () => {
    const deps = estate(boundAccount('a1', v2.version));
    const ask = (force: boolean) => planRotation({ accountId: accountId('a1'), keyVersion: v1.version, force }, 'ops', deps);
    const unforced = await ask(false);
    assert.ok(unforced.ok && unforced.value[0]?.decision !== 'patch', JSON.stringify(unforced));
    const forced = await ask(true);
    assert.deepEqual(forced.ok && forced.value.map((l) => [l.decision, l.toVersion, l.reason]), [['patch', v1.version, `forced downgrade by ops; would pin to ${v1.version}`]]);
    untouched(deps);
  });

  it('rotateKey plans a new version without creating one', async () => {
    const deps = estate(boundAccount('a1', v1.version));
    const plan = await planRotation({ accountId: accountId('a1'), rotateKey: true }, 'ops', deps);
    assert.deepEqual(plan.ok && plan.value.map((l) => l.decision), ['patch']);
    untouched(deps);
  });

  it("rotateKey runs the worker's preflight on the key: an identity without access is refused, a versionless binding skipped", async () => {
    const deps = estate(boundAccount('a1', v1.version), boundAccount('rbac', v1.version, { identity: { type: 'SystemAssigned', principalId: 'q', tenantId: 't' } }), boundAccount('latest', ''));
    deps.accounts.putScope(boundScope('a1', 'p1', v1.version));
    const plan = await planRotation({ vaultUri: VAULT, keyName: 'cmk', rotateKey: true }, 'ops', deps);
    assert.ok(plan.ok);
    assert.deepEqual(plan.value.map((l) => [l.accountId.split('/').pop(), l.encryptionScope, l.decision, l.reason?.split(':')[0]]).sort(), [
      ['a1', undefined, 'patch', 'rotateKey'],
      ['a1', 'p1', 'patch', 'rotateKey'],
      ['latest', undefined, 'skipped', 'versionless'],
      ['rbac', undefined, 'refused', 'access-missing'],
    ]);
    assert.ok(plan.value.every((l) => l.toVersion === undefined), 'no version is named before Key Vault makes it');
    untouched(deps);
  });

  it('rotateKey for a Managed HSM key and a kind without HSM support: refused by its kind, with no role assignment read', async () => {
    const binding = { vaultUri: HSM, keyName: 'cmk', keyVersion: v1.version };
    const deps = estate(boundAccount('cs', v1.version, { kind: 'ContentSafety', binding }));
    deps.isAllowedVault = () => true;
    const plan = await planRotation({ accountId: accountId('cs'), rotateKey: true }, 'ops', deps);
    assert.deepEqual(plan.ok && plan.value.map((l) => l.decision), ['refused']);
    assert.match(plan.ok ? plan.value[0]?.reason ?? '' : '', /^managed-hsm-kind-unsupported: .*not ContentSafety/);
    assert.equal(deps.grants.asked.length, 0);
    untouched(deps);
  });
});

describe('requestRotation', () => {
  it('force pins the account to the version it names, with who and why; a later plain request releases the pin', async () => {
    const deps = estate(boundAccount('a1', v2.version));
    const forced = await requestRotation({ accountId: accountId('a1'), keyVersion: v1.version, force: true, reason: 'v2 breaks fine-tuning' }, 'alice@contoso.com', deps);
    assert.ok(forced.ok);
    await work(deps);
    const pin = await deps.pins.get(accountId('a1'));
    assert.deepEqual([pin?.keyVersion, pin?.actor, pin?.reason], [v1.version, 'alice@contoso.com', 'v2 breaks fine-tuning']);
    assert.equal((await deps.accounts.getAccount(accountId('a1')))?.binding?.keyVersion, v1.version);

    const plain = await requestRotation({ accountId: accountId('a1') }, 'bob@contoso.com', deps);
    assert.ok(plain.ok);
    await work(deps);
    assert.equal(await deps.pins.get(accountId('a1')), undefined);
    assert.equal((await deps.accounts.getAccount(accountId('a1')))?.binding?.keyVersion, v2.version);
  });

  it('queues one job per binding to the key, each with a queued row naming the person', async () => {
    const deps = estate(boundAccount('a1', v1.version), boundAccount('a2', v1.version));
    const result = await requestRotation({ vaultUri: VAULT, keyName: 'cmk' }, 'ops@contoso.com', deps);
    assert.deepEqual(result.ok && result.value.map((j) => [j.accountId, j.kind, j.status]), [[accountId('a1'), 'rebind', 'queued'], [accountId('a2'), 'rebind', 'queued']]);
    assert.deepEqual([...deps.ledger.rows.values()].map((r) => [r.status, r.actor, r.trigger]), Array(2).fill(['queued', 'ops@contoso.com', 'manual']));
  });

  it('rotateKey rotates once and every job targets the new version', async () => {
    const deps = estate(boundAccount('a1', v1.version), boundAccount('a2', v1.version));
    await requestRotation({ vaultUri: VAULT, keyName: 'cmk', rotateKey: true }, 'ops', deps);
    assert.deepEqual(deps.keys.rotations, ['cmk']);
    const rotated = deps.keys.versions.at(-1)?.version;
    assert.deepEqual(deps.queue.jobs.map(({ job }) => (job as RebindJob).targetVersion), [rotated, rotated]);
  });

  it('rotateKey is refused before the key is rotated when every binding would be refused, and nothing is queued', async () => {
    const noAccess = { identity: { type: 'SystemAssigned' as const, principalId: 'q', tenantId: 't' } };
    const deps = estate(boundAccount('a1', v1.version, noAccess), boundAccount('a2', v1.version, noAccess));
    const result = await requestRotation({ vaultUri: VAULT, keyName: 'cmk', rotateKey: true }, 'ops', deps);
    assert.deepEqual(result.ok ? undefined : [result.refusal.code, result.refusal.field], ['preflight-refused', 'rotateKey']);
    assert.match(result.ok ? '' : result.refusal.detail, /^no binding could take a new version, so the key is not rotated: a1: access-missing: .*; a2: access-missing: /);
    untouched(deps);
    const many = estate(...Array.from({ length: 12 }, (_, i) => boundAccount(`n${i}`, v1.version, noAccess)));
    const refusedMany = await requestRotation({ vaultUri: VAULT, keyName: 'cmk', rotateKey: true }, 'ops', many);
    assert.match(refusedMany.ok ? '' : refusedMany.refusal.detail, /n9: access-missing: [^;]*; and 2 more \(the dry run lists each\)$/);
    untouched(many);
  });

  it('rotateKey for every binding to a key is not made when its accounts opted out since discovery read them, or are gone; naming the account rotates', async () => {
    // An opted-out account's versionless binding follows nothing either.
    for (const now of ['tagged', 'tagged-versionless', 'gone'] as const) {
      const deps = estate(boundAccount('a1', now === 'tagged-versionless' ? '' : v1.version));
      // ARM answers as it is now; discovery (Resource Graph, the scope index) still has the account as it was.
      const get = deps.accounts.getAccount.bind(deps.accounts);
      deps.accounts.getAccount = async (id) => {
        const account = await get(id);
        return now === 'gone' || !account ? undefined : { ...account, tags: { 'cmk-rotator:opt-out': 'true' } };
      };
      const result = await requestRotation({ vaultUri: VAULT, keyName: 'cmk', rotateKey: true }, 'ops', deps);
      const why = now === 'gone' ? 'account-missing: the account no longer exists' : 'opted-out: the account carries the tag cmk-rotator:opt-out';
      assert.deepEqual(result.ok ? undefined : [result.refusal.code, result.refusal.detail], ['preflight-refused', `no binding could take a new version, so the key is not rotated: a1: ${why}`], now);
      untouched(deps);
    }
    const named = estate(boundAccount('a1', v1.version, { tags: { 'cmk-rotator:opt-out': 'true' } }));
    assert.equal((await requestRotation({ accountId: accountId('a1'), rotateKey: true }, 'ops', named)).ok, true);
    assert.deepEqual(named.keys.rotations, ['cmk']);
  });

  it('rotateKey rotates when one binding could take the new version, or follows it (versionless), and the worker refuses the rest', async () => {
    const noAccess = { identity: { type: 'SystemAssigned' as const, principalId: 'q', tenantId: 't' } };
    for (const other of [boundAccount('a2', v1.version), boundAccount('a2', '', noAccess)]) {
      const deps = estate(boundAccount('a1', v1.version, noAccess), other);
      const result = await requestRotation({ vaultUri: VAULT, keyName: 'cmk', rotateKey: true }, 'ops', deps);
      assert.deepEqual(result.ok && result.value.length, 2);
      assert.deepEqual(deps.keys.rotations, ['cmk']);
      await work(deps);
      assert.equal([...deps.ledger.rows.values()].find((r) => r.accountId === accountId('a1'))?.status, 'refused');
    }
  });

  it("rotateKey is refused, in the dry run too, when the key's current version has a shape a rotation copies and no binding may take", async () => {
    // v1 is bound; the key's current version is RSA 3072 (ALLOWED_KEY_SIZES 2048), or lacks wrapKey: Key Vault makes the new one alike.
    for (const current of [keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z'), keySize: 3072 }), keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z'), keyOps: ['unwrapKey'] })]) {
      const deps = estate(boundAccount('a1', v1.version), boundAccount('latest', ''));
      deps.keys.add(current);
      const plan = await planRotation({ accountId: accountId('a1'), rotateKey: true }, 'ops', deps);
      assert.deepEqual(plan.ok && plan.value.map((l) => l.decision), ['refused'], JSON.stringify(plan));
      for (const req of [{ accountId: accountId('a1'), rotateKey: true }, { vaultUri: VAULT, keyName: 'cmk', rotateKey: true }]) {
        const result = await requestRotation(req, 'ops', deps);
        assert.deepEqual(result.ok ? undefined : [result.refusal.code, result.refusal.field], ['preflight-refused', 'rotateKey'], JSON.stringify(req));
      }
      untouched(deps);
    }
  });

  it("rotateKey by key when the key's current version has a shape a rotation copies: the dry run refuses its versionless bindings too, as the request refuses the rotation", async () => {
    const current = keyVersion(hex(3), { createdOn: new Date('2026-04-01T00:00:00Z'), keySize: 3072 });
    for (const accounts of [[boundAccount('a1', v1.version), boundAccount('latest', '')], [boundAccount('latest', '')]]) {
      const deps = estate(...accounts);
      deps.keys.add(current);
      const req = { vaultUri: VAULT, keyName: 'cmk', rotateKey: true };
      const plan = await planRotation(req, 'ops', deps);
      assert.deepEqual(plan.ok && plan.value.map((l) => l.decision), accounts.map(() => 'refused'), JSON.stringify(plan));
      const result = await requestRotation(req, 'ops', deps);
      assert.deepEqual(result.ok ? undefined : result.refusal.code, 'preflight-refused');
      untouched(deps);
    }
  });

  const refused: Array<[string, RotationRequest, string, string]> = [
    ['an account that does not exist', { accountId: accountId('nope') }, 'account-not-found', 'accountId'],
    ['an account on Microsoft-managed keys', { accountId: accountId('mmk') }, 'account-not-cmk', 'accountId'],
    ['a scope the account does not have', { accountId: accountId('a1'), encryptionScope: 'nope' }, 'scope-not-found', 'encryptionScope'],
    ['an account bound to a vault outside KEY_VAULT_HOST_SUFFIXES', { accountId: accountId('evil') }, 'vault-not-allowed', 'accountId'],
    ['a key in a vault outside KEY_VAULT_HOST_SUFFIXES', { vaultUri: EVIL, keyName: 'cmk' }, 'vault-not-allowed', 'vaultUri'],
    ['a version the key does not have', { accountId: accountId('a1'), keyVersion: hex(7) }, 'key-version-not-found', 'keyVersion'],
    ['a key no account is bound to', { vaultUri: VAULT, keyName: 'unused' }, 'no-bound-accounts', 'keyName'],
  ];
  for (const [what, req, code, field] of refused) {
    it(`refuses ${what} (${code}), for the dry run too, and writes nothing`, async () => {
      const deps = estate(
        boundAccount('a1', v1.version),
        boundAccount('mmk', '', { keySource: 'Microsoft.CognitiveServices', binding: undefined as never }),
        boundAccount('evil', v1.version, { binding: { vaultUri: EVIL, keyName: 'cmk', keyVersion: v1.version } }),
      );
      for (const result of [await requestRotation(req, 'ops', deps), await planRotation(req, 'ops', deps)]) {
        assert.deepEqual(result.ok ? undefined : [result.refusal.code, result.refusal.field], [code, field]);
      }
      untouched(deps);
    });
  }
});

