import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KeyVersionInfo } from '../../shared/domain/model';
import { DependencyError } from '../../shared/errors';
import { planRotation } from '../../shared/usecases/rotationPlan';
import { KeyReader } from '../../shared/usecases/keyViews';
import { newestUsableVersion, readRebindTarget } from '../../shared/usecases/keyVersions';
import { accountId, boundAccount, estateDeps, FakeKeyStore, hex, keyVersion, VAULT } from '../support/fakes';

// Which version of a key is "the newest usable": the one version order (created, then the current version for
// versions made in the same second) and rule 2 (enabled, valid now, an allowed type and size, wrap and unwrap).

const now = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;
const policy = { allowedKeySizes: [2048], expiryMarginMs: 24 * 3_600_000 };
const sameSecond = new Date('2026-03-01T00:00:00Z');

/** A key whose versions are these, the last one added being the current version. */
const keyOf = (...versions: KeyVersionInfo[]) => new FakeKeyStore().add(...versions);
const newest = async (keys: FakeKeyStore) => (await newestUsableVersion(keys, VAULT, 'cmk', policy, now)).version?.version;

describe('the newest usable version', () => {
  it('of versions made in the same second is the current one, whichever was listed or made first', async () => {
    const a = keyVersion(hex(0xa), { createdOn: sameSecond });
    const b = keyVersion(hex(0xb), { createdOn: sameSecond });
    assert.equal(await newest(keyOf(a, b)), b.version);
    assert.equal(await newest(keyOf(b, a)), a.version);
    assert.equal((await new KeyReader(keyOf(b, a), VAULT, 'cmk', policy, now).newestUsable())?.version, a.version, 'the sweep reads the same order');
  });

  const unusable: Array<[string, Partial<KeyVersionInfo>]> = [
    ['disabled', { enabled: false }],
    ['expired', { expiresOn: new Date(now.getTime() - 1000) }],
    ['expiring within the margin', { expiresOn: new Date(now.getTime() + 3_600_000) }],
    ['not yet valid', { notBefore: new Date(now.getTime() + DAY) }],
    ['a size the policy does not allow', { keySize: 4096 }],
    ['without unwrapKey', { keyOps: ['wrapKey'] }],
  ];
  for (const [what, over] of unusable) {
    it(`passes over a newer version that is ${what}`, async () => {
      const old = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
      const keys = keyOf(old, keyVersion(hex(2), { createdOn: new Date('2026-03-01T00:00:00Z'), ...over }));
      assert.equal(await newest(keys), old.version);
      assert.equal((await new KeyReader(keys, VAULT, 'cmk', policy, now).newestUsable())?.version, old.version);
    });
  }

  it('is none when no version is usable, and none of a key that does not exist', async () => {
    assert.equal(await newest(keyOf(keyVersion(hex(1), { enabled: false }))), undefined);
    assert.equal(await newest(keyOf()), undefined);
  });

  it('a named target is read as it is, usable or not (rule 2 then refuses it)', async () => {
    const keys = keyOf(keyVersion(hex(1)), keyVersion(hex(2), { createdOn: sameSecond, enabled: false }));
    const { target } = await readRebindTarget(keys, { vaultUri: VAULT, keyName: 'cmk', targetVersion: hex(2) }, policy, now);
    assert.deepEqual([target?.version, target?.enabled], [hex(2), false]);
  });
});

describe('the key as the sweep reads it (KeyReader)', () => {
  it('views a bound version, the newest usable and the current one; a version that is gone is undefined', async () => {
    const v1 = keyVersion(hex(1)), v2 = keyVersion(hex(2), { createdOn: sameSecond });
    const reader = new KeyReader(keyOf(v1, v2), VAULT, 'cmk', policy, now);
    const view = await reader.view(v1.version);
    assert.deepEqual(view.status === 'ok' && [view.bound?.version, view.newestUsable?.version, view.current?.version], [v1.version, v2.version, v2.version]);
    const gone = await reader.view(hex(9));
    assert.equal(gone.status === 'ok' && gone.bound, undefined);
  });

  it('reads the listing, the current version and a bound older version in one round trip, and each once', async () => {
    const v1 = keyVersion(hex(1)), v2 = keyVersion(hex(2), { createdOn: sameSecond });
    const keys = keyOf(v1, v2);
    const asked: string[] = [];
    const gate = later();
    const list = keys.listVersions.bind(keys), get = keys.getKeyVersion.bind(keys);
    keys.listVersions = async (...args) => (asked.push('list'), await gate.promise, list(...args));
    keys.getKeyVersion = async (vaultUri, keyName, version) => (asked.push(version ?? 'current'), await gate.promise, get(vaultUri, keyName, version));
    const reader = new KeyReader(keys, VAULT, 'cmk', policy, now);
    const views = [reader.view(v1.version), reader.view(v1.version.toUpperCase()), reader.view(v2.version)];
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([...asked].sort(), ['current', 'list', v1.version, v2.version].sort(), 'all asked before any answer came');
    gate.resolve();
    const [first, again] = await Promise.all(views);
    assert.equal(first, again, 'one view per version, for all its accounts');
    assert.equal(asked.length, 4);
  });

  it('a missing key is missing, a 403 is access-denied, and other failures are thrown', async () => {
    assert.equal((await new KeyReader(keyOf(), VAULT, 'cmk', policy, now).view(hex(1))).status, 'missing');
    const failing = (statusCode: number) => {
      const keys = keyOf(keyVersion(hex(1)));
      keys.listVersions = async () => Promise.reject(new DependencyError(`http-${statusCode}`, 'Key Vault refused', { retryable: statusCode >= 500, statusCode }));
      return new KeyReader(keys, VAULT, 'cmk', policy, now);
    };
    assert.equal((await failing(403).view(hex(1))).status, 'access-denied');
    await assert.rejects(failing(503).view(hex(1)), (e: unknown) => e instanceof DependencyError && e.statusCode === 503);
  });
});

describe('never a downgrade', () => {
  it('a plain request with the newest usable version older than the bound one plans no PATCH', async () => {
    const deps = estateDeps();
    const old = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
    const bound = keyVersion(hex(2), { createdOn: sameSecond });
    // The bound version has since been disabled: the only usable one is older.
    deps.keys.add(old, { ...bound, enabled: false });
    deps.accounts.put(boundAccount('a1', bound.version));
    const plan = await planRotation({ accountId: accountId('a1') }, 'ops', deps);
    assert.ok(plan.ok);
    assert.notEqual(plan.value[0]?.decision, 'patch', JSON.stringify(plan.value));
    const named = await planRotation({ accountId: accountId('a1'), keyVersion: old.version }, 'ops', deps);
    assert.notEqual(named.ok && named.value[0]?.decision, 'patch', 'naming the older version is not enough without force');
  });

  it('a bound version Key Vault has, whose creation time it did not give, is not taken for one that is gone', async () => {
    const deps = estateDeps();
    const old = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
    // The bound version is the key's current one (added last); its attributes carry no created.
    const { createdOn: _created, ...bound } = keyVersion(hex(2));
    deps.keys.add(old, bound);
    deps.accounts.put(boundAccount('a1', bound.version));
    const named = await planRotation({ accountId: accountId('a1'), keyVersion: old.version }, 'ops', deps);
    assert.ok(named.ok);
    assert.equal(named.value[0]?.decision, 'skipped', JSON.stringify(named.value));
    assert.match(named.value[0]?.reason ?? '', /^stale-target/);
  });

  it("a bound version without a creation time that is not the key's current one is not moved to an older one, and the reason says why", async () => {
    const deps = estateDeps();
    const old = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
    const { createdOn: _created, ...bound } = keyVersion(hex(2));
    const current = keyVersion(hex(3), { createdOn: new Date('2026-03-01T00:00:00Z') });
    deps.keys.add(old, bound, current);
    deps.accounts.put(boundAccount('a1', bound.version));
    const named = await planRotation({ accountId: accountId('a1'), keyVersion: old.version }, 'ops', deps);
    assert.ok(named.ok);
    assert.equal(named.value[0]?.decision, 'skipped', JSON.stringify(named.value));
    assert.match(named.value[0]?.reason ?? '', new RegExp(`^stale-target: .*Key Vault gave no creation time for ${bound.version}`));
  });
});

function later(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
