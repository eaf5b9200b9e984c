import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { boundAccount, hex, keyVersion } from '../support/fakes';
import { bindingFindings, evaluateAccount, type AccountEvaluation } from '../../shared/domain/findings';
import { findingDigest, findingKey, verdictUnchanged } from '../../shared/domain/verdicts';
import { byCreated, codes, DAY, evaluate, evaluation, now, only, v1, v2 } from '../support/findingsKit';
import type { KeyVersionInfo } from '../../shared/domain/model';

describe('pinned', () => {
  const pin = { accountId: boundAccount('a1', v1.version).id, keyVersion: v1.version, actor: 'alice@contoso.com', reason: 'v2 breaks fine-tuning', pinnedAt: '2026-05-30T00:00:00.000Z', jobId: 'job-1' };
  it('reports the pin (info, who and why) instead of drift, which a person chose', () => {
    const findings = evaluate({ pin, key: { status: 'ok', order: byCreated, bound: v1, newestUsable: v2 } });
    assert.deepEqual(codes(findings), ['pinned']);
    const f = only(findings, 'pinned');
    assert.equal(f.severity, 'info');
    assert.deepEqual([f.evidence['pinnedVersion'], f.evidence['actor'], f.evidence['reason']], [v1.version, 'alice@contoso.com', 'v2 breaks fine-tuning']);
  });
});

describe('versionless-binding', () => {
  const versionless = boundAccount('a1', '');
  const view = (current: KeyVersionInfo, newestUsable = current) => ({ status: 'ok' as const, order: byCreated, bound: undefined, newestUsable, current });
  it('is reported (info) instead of drift, naming the current version and that the version in use is unknown', () => {
    const findings = evaluate({ account: versionless, key: view(v2) });
    assert.deepEqual(codes(findings), ['versionless-binding']);
    const f = only(findings, 'versionless-binding');
    assert.equal(f.severity, 'info');
    assert.equal(f.evidence['boundVersion'], null);
    assert.equal(f.evidence['currentVersion'], v2.version);
    assert.match(String(f.evidence['versionInUse']), /Azure shows no version in use/);
    assert.match(f.remedy, /keyVersion/);
  });
  it('never says version-drift or key-missing, however new the newest usable version is', () => {
    const findings = evaluate({ account: versionless, key: view(v1, v2) });
    assert.ok(!codes(findings).includes('version-drift'));
    assert.ok(!codes(findings).includes('key-missing'));
  });
  it("checks the key's current version (the one latest names) and says which version it checked", () => {
    const expiring = keyVersion(hex(3), { expiresOn: new Date(now.getTime() + 5 * DAY) });
    const f = only(evaluate({ account: versionless, key: view(expiring) }), 'key-near-expiry');
    assert.equal(f.evidence['checkedVersion'], expiring.version);
    assert.equal(f.evidence['boundVersion'], null);
  });
  it('a key that does not exist is still key-missing', () => {
    assert.deepEqual(codes(evaluate({ account: versionless, key: { status: 'missing' } })), ['key-missing']);
  });
});


describe('findings shared by the accounts of one binding', () => {
  const pin = { accountId: boundAccount('a1', v1.version).id, keyVersion: v1.version, actor: 'alice@contoso.com', reason: 'rollback', pinnedAt: '2026-05-30T00:00:00.000Z', jobId: 'job-1' };
  const cases: Record<string, Partial<AccountEvaluation>> = {
    drift: { key: { status: 'ok' as const, order: byCreated, bound: v1, newestUsable: v2 } },
    'drift, pinned': { pin, key: { status: 'ok' as const, order: byCreated, bound: v1, newestUsable: v2 } },
    'version gone': { key: { status: 'ok' as const, order: byCreated, bound: undefined, newestUsable: v2 } },
    'key missing': { key: { status: 'missing' as const } },
    'no identity': { account: { ...boundAccount('a1', v1.version), identity: undefined }, key: { status: 'ok' as const, order: byCreated, bound: v1, newestUsable: v2 } },
  };
  for (const [name, over] of Object.entries(cases)) {
    it(`give the same verdict as judging the account alone (${name})`, () => {
      const alone = evaluate(over);
      const all = evaluation(over);
      const bound = bindingFindings({ ...all, binding: all.account.binding, pinned: !!all.pin });
      assert.deepEqual(evaluateAccount(all, bound), alone);
      assert.ok(alone.length > 0, 'each case has something to say');
    });
  }
  it('are hashed once: the same finding keeps its digest, and an equal one made anew has the same digest', () => {
    const [drift] = evaluate(cases['drift']);
    assert.ok(drift);
    assert.equal(findingDigest(drift), findingDigest(drift));
    assert.equal(findingDigest({ ...drift, evidence: { ...drift.evidence } }), findingDigest(drift));
    assert.notEqual(findingDigest({ ...drift, remedy: 'other' }), findingDigest(drift));
  });
});

describe('verdictUnchanged', () => {
  const drift = evaluate({ key: { status: 'ok', order: byCreated, bound: v1, newestUsable: v2 } });
  const stored = new Map(drift.map((f) => [findingKey(f), findingDigest(f)]));
  it('is true only when the stored rows are exactly these findings', () => {
    assert.equal(verdictUnchanged(stored, drift), true);
    assert.equal(verdictUnchanged(undefined, []), true, 'nothing stored and nothing found');
    assert.equal(verdictUnchanged(new Map(), []), true);
    assert.equal(verdictUnchanged(undefined, drift), false, 'a new finding');
    assert.equal(verdictUnchanged(stored, []), false, 'a finding gone');
    assert.equal(verdictUnchanged(new Map([...stored, ['key-expired', 'x']]), drift), false, 'a stored row more');
    assert.equal(verdictUnchanged(new Map([...stored].map(([k]) => [k, 'changed'])), drift), false, 'same code, other evidence');
  });
});
