import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { versionOrder } from '../../shared/domain/keys';
import { decideRebind, readBack, reportsVersion } from '../../shared/domain/rebind';
import { boundAccount, hex, keyVersion, VAULT } from '../support/fakes';

const now = new Date('2026-06-01T00:00:00Z');
const policy = { allowedKeySizes: [2048], expiryMarginMs: 24 * 3_600_000 };
const v1 = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
const v2 = keyVersion(hex(2), { createdOn: new Date('2026-03-01T00:00:00Z') });
const request = { vaultUri: VAULT, keyName: 'cmk', force: false, trigger: 'event' as const };
const byCreated = versionOrder(undefined);

function decide(over: Partial<Parameters<typeof decideRebind>[0]> = {}) {
  return decideRebind({ account: boundAccount('a1', v1.version), request, target: v2, bound: v1, order: byCreated, policy, now, ...over });
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
    const d = decide({ account: boundAccount('a1', v2.version), target: v1, bound: v2 });
    assert.equal(d.action === 'none' && d.status, 'skipped');
    assert.match(d.action === 'none' ? d.reason : '', /^stale-target/);
  });
  it('moves to the older version when forced', () => {
    const d = decide({ account: boundAccount('a1', v2.version), target: v1, bound: v2, request: { ...request, force: true } });
    assert.equal(d.action, 'patch');
    assert.equal(d.action === 'patch' && d.downgrade, true);
  });
});

describe('rule 3: one version order, ties broken by the key\'s current version', () => {
  // Key Vault's created has one-second resolution: these three were made in the same second.
  const second = new Date('2026-05-01T12:00:00Z');
  const [a, b, c] = [hex(10), hex(11), hex(12)].map((v) => keyVersion(v, { createdOn: second }));
  const tied = (bound: typeof a, target: typeof a, current: string) =>
    decide({ account: boundAccount('a1', bound!.version), bound, target, order: versionOrder(current) });

  it('moves to the current version from a version made in the same second', () => {
    assert.equal(tied(a, c, c!.version).action, 'patch');
  });
  it('never leaves the current version for a tie-mate, whatever the listing order says', () => {
    const d = tied(c, a, c!.version);
    assert.equal(d.action === 'none' && d.status, 'skipped');
    assert.match(d.action === 'none' ? d.reason : '', /^stale-target: bound version/);
  });
  it('does not move between two tied versions of which neither is current: which is newer cannot be known', () => {
    const d = tied(a, b, c!.version);
    assert.equal(d.action === 'none' && d.status, 'skipped');
    assert.match(d.action === 'none' ? d.reason : '', /created in the same second and neither is the key's current version/);
  });
  it('a person may still force it', () => {
    const d = decide({ account: boundAccount('a1', a!.version), bound: a, target: b, order: versionOrder(c!.version), request: { ...request, force: true } });
    assert.equal(d.action, 'patch');
  });
  it('orders by created before the current version: a current read before a newer version was made breaks no tie', () => {
    // The job read v1 as current; v2 was made (and bound by another job) before this job read the account.
    const d = decide({ account: boundAccount('a1', v2.version), bound: v2, target: v1, order: versionOrder(v1.version) });
    assert.equal(d.action === 'none' && d.status, 'skipped');
    assert.match(d.action === 'none' ? d.reason : '', /^stale-target: bound version/);
    assert.deepEqual(versionOrder(v1.version).newestFirst([v1, v2]).map((v) => v.version), [v2.version, v1.version]);
    assert.equal(versionOrder(v1.version).compare(v1, v2), -1);
  });
  it('orders newest first: by created, the current version first in its second, other ties by a stable id order', () => {
    const older = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
    const listed = [older, c!, a!, b!];
    assert.deepEqual(versionOrder(b!.version).newestFirst(listed).map((v) => v.version), [b, a, c, older].map((v) => v!.version));
    assert.equal(versionOrder(b!.version).compare(b!, c!), 1);
    assert.equal(versionOrder(b!.version).compare(a!, c!), undefined);
    assert.equal(versionOrder(b!.version).compare(older, a!), -1);
  });
  it('moves when the bound version no longer exists (nothing to be older than)', () => {
    assert.equal(decide({ bound: undefined }).action, 'patch');
  });
});

describe('§2a: a pinned account', () => {
  const pin = { accountId: boundAccount('a1', v1.version).id, keyVersion: v1.version, actor: 'alice', reason: 'v2 breaks fine-tuning', pinnedAt: now.toISOString(), jobId: 'job-1' };
  it('is skipped by events and sweeps, naming who pinned it and why', () => {
    for (const trigger of ['event', 'sweep'] as const) {
      const d = decide({ pin, request: { ...request, trigger } });
      assert.equal(d.action === 'none' && d.status, 'skipped');
      assert.equal(d.action === 'none' ? d.reason : '', `pinned by alice to ${v1.version}: v2 breaks fine-tuning`);
    }
  });
  it('does not stop a person', () => {
    assert.equal(decide({ pin, request: { ...request, trigger: 'manual' } }).action, 'patch');
  });
});

describe('§2a: a versionless binding (keyVersion empty: "latest")', () => {
  const versionless = boundAccount('a1', '');
  it('is left alone by events, sweeps and a person who names no version: skipped, versionless', () => {
    for (const trigger of ['event', 'sweep', 'manual'] as const) {
      const d = decide({ account: versionless, bound: undefined, request: { ...request, trigger } });
      assert.equal(d.action === 'none' && d.status, 'skipped', trigger);
      assert.match(d.action === 'none' ? d.reason : '', /^versionless: /, trigger);
    }
  });
  it('is left alone by a forced event or sweep too: only a person naming the version pins it', () => {
    const d = decide({ account: versionless, bound: undefined, request: { ...request, force: true, versionNamed: true } });
    assert.match(d.action === 'none' ? d.reason : '', /^versionless: /);
  });
  it('is pinned when a person names the version: the PATCH sends that version, from none', () => {
    const d = decide({ account: versionless, bound: undefined, request: { ...request, trigger: 'manual', versionNamed: true } });
    assert.equal(d.action, 'patch');
    assert.deepEqual(d.action === 'patch' && [d.from, d.to, d.downgrade, d.binding.keyVersion], ['', v2.version, false, v2.version]);
  });
  it('a whitespace-only version is versionless too', () => {
    const d = decide({ account: boundAccount('a1', '  '), bound: undefined });
    assert.match(d.action === 'none' ? d.reason : '', /^versionless: /);
  });
  it('rule 1 still comes first: a versionless binding to another key is binding-changed', () => {
    const d = decide({ account: boundAccount('a1', '', { binding: { vaultUri: VAULT, keyName: 'other', keyVersion: '' } }) });
    assert.match(d.action === 'none' ? d.reason : '', /^binding-changed/);
  });
  it('rule 2 still holds when a person pins it: an unusable version is refused', () => {
    const d = decide({ account: versionless, bound: undefined, target: { ...v2, enabled: false }, request: { ...request, trigger: 'manual', versionNamed: true } });
    assert.equal(d.action === 'none' && d.status, 'refused');
  });
});

describe('rule 4: the same version already bound', () => {
  it('answers already-current without a PATCH, whatever the case of the version', () => {
    const d = decide({ account: boundAccount('a1', v2.version.toUpperCase()), bound: undefined });
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

describe('rule 6: the read-back decides, four ways', () => {
  const missing = (a: Parameters<typeof reportsVersion>[0]) => reportsVersion(a, v2.version);
  it('applied only when the account reports the target and Succeeded', () => {
    assert.deepEqual(readBack(boundAccount('a', v2.version), missing), { verdict: 'applied' });
  });
  it('unsettled while the account reports Accepted or Updating (ARM lags after the operation)', () => {
    for (const state of ['Accepted', 'Updating', 'Creating']) {
      assert.equal(readBack(boundAccount('a', v2.version, { provisioningState: state }), missing).verdict, 'unsettled');
    }
  });
  it('not applied when the account settled on another version, or Failed', () => {
    assert.equal(readBack(boundAccount('a', v1.version), missing).verdict, 'not-applied');
    assert.equal(readBack(boundAccount('a', v1.version, { provisioningState: 'Failed' }), missing).verdict, 'not-applied');
    assert.equal(readBack(undefined, missing).verdict, 'not-applied');
  });
  it('unverified, not "not applied", when the account reports the target but Failed, Canceled or no provisioningState', () => {
    for (const state of ['Failed', 'Canceled', undefined]) {
      const back = readBack({ ...boundAccount('a', v2.version), provisioningState: state }, missing);
      assert.equal(back.verdict, 'unverified', String(state));
    }
  });
});
