import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FINDING_CODES, FINDING_RULES, protectsFromPurge, summarise, type FindingCode } from '../../shared/domain/findings';
import { versionOrder } from '../../shared/domain/keys';
import type { KeyVersionInfo } from '../../shared/domain/model';
import { boundAccount, hex, keyVersion, VAULT } from '../support/fakes';
import { projectRoot } from '../support/fixtures';
import { byCreated, codes, DAY, evaluate, now, only, policy, v1, v2, vault, withBound, withVault } from '../support/findingsKit';

describe('a healthy account', () => {
  it('has no findings (locations and permissions compare without case or spaces)', () => {
    assert.deepEqual(evaluate(), []);
  });
});

describe('version-drift', () => {
  it('reports a newer usable version with both versions as evidence', () => {
    const f = only(evaluate({ key: { status: 'ok', order: byCreated, bound: v1, newestUsable: v2 } }), 'version-drift');
    assert.equal(f.severity, 'warning');
    assert.equal(f.evidence['boundVersion'], v1.version);
    assert.equal(f.evidence['newestUsableVersion'], v2.version);
    assert.match(f.remedy, new RegExp(v2.version));
  });
  it('is not reported when the only usable version is older than the bound one (never downgrade)', () => {
    const bound4k = { ...v2, keySize: 4096 };
    assert.ok(!codes(evaluate({ key: { status: 'ok', order: byCreated, bound: bound4k, newestUsable: v1 } })).includes('version-drift'));
  });
  it('is not reported when the newer version handed in is not usable by rule 2', () => {
    assert.deepEqual(evaluate({ key: { status: 'ok', order: byCreated, bound: v1, newestUsable: { ...v2, enabled: false } } }), []);
    assert.deepEqual(evaluate({ key: { status: 'ok', order: byCreated, bound: v1, newestUsable: { ...v2, keySize: 4096 } } }), []);
  });
  it('is not reported when there is no usable version at all', () => {
    assert.deepEqual(evaluate({ key: { status: 'ok', order: byCreated, bound: v1, newestUsable: undefined } }), []);
  });
  it('matches the bound version without regard to case', () => {
    assert.deepEqual(evaluate({ account: boundAccount('a1', v1.version.toUpperCase()) }), []);
  });
});

describe('version-drift in the one version order (created has one-second resolution)', () => {
  const second = new Date('2026-05-01T12:00:00Z');
  const [a, b, c] = [hex(10), hex(11), hex(12)].map((v) => keyVersion(v, { createdOn: second }));
  it('a version made in the same second as the bound one is newer only when it is the current version', () => {
    const drift = evaluate({ account: boundAccount('a1', a!.version), key: { status: 'ok', order: versionOrder(c!.version), bound: a, newestUsable: c } });
    assert.equal(only(drift, 'version-drift').evidence['newestUsableVersion'], c!.version);
    // Bound to the current version: the tie-mates are older, whatever their listing order.
    assert.deepEqual(evaluate({ account: boundAccount('a1', c!.version), key: { status: 'ok', order: versionOrder(c!.version), bound: c, newestUsable: c } }), []);
  });
  it('two tied versions neither of which is current cannot be ordered: no drift is claimed', () => {
    assert.deepEqual(evaluate({ account: boundAccount('a1', a!.version), key: { status: 'ok', order: versionOrder(hex(99)), bound: a, newestUsable: b } }), []);
  });
});

describe('key expiry of the bound version (nearExpiryDays = 30)', () => {
  const at = (offsetMs: number): FindingCode[] =>
    codes(withBound({ ...v1, expiresOn: new Date(now.getTime() + offsetMs) })).filter((c) => c.startsWith('key-'));
  it('exactly at now + 30 days counts as near', () => assert.deepEqual(at(30 * DAY), ['key-near-expiry']));
  it('one second before that boundary is near', () => assert.deepEqual(at(30 * DAY - 1000), ['key-near-expiry']));
  it('one second after that boundary is not near', () => assert.deepEqual(at(30 * DAY + 1000), []));
  it('exactly at now is expired, not near', () => assert.deepEqual(at(0), ['key-expired']));
  it('one second after now is near, not expired', () => assert.deepEqual(at(1000), ['key-near-expiry']));
  it('one second before now is expired', () => assert.deepEqual(at(-1000), ['key-expired']));
  it('severities: expired is critical, near is warning; evidence carries the expiry', () => {
    const expired = only(withBound({ ...v1, expiresOn: now }), 'key-expired');
    assert.equal(expired.severity, 'critical');
    assert.equal(expired.evidence['expiresOn'], now.toISOString());
    assert.equal(only(withBound({ ...v1, expiresOn: new Date(now.getTime() + DAY) }), 'key-near-expiry').severity, 'warning');
  });
  it('an expiry years away is no finding', () => assert.deepEqual(at(365 * DAY * 10), []));
});

describe('key-disabled, key-missing, key-access-denied', () => {
  it('a disabled bound version is critical', () => {
    const f = only(withBound({ ...v1, enabled: false }), 'key-disabled');
    assert.equal(f.severity, 'critical');
  });
  it('a missing key (404) is critical and the only key finding', () => {
    const findings = evaluate({ key: { status: 'missing' } });
    assert.deepEqual(codes(findings), ['key-missing']);
    assert.equal(findings[0]?.severity, 'critical');
    assert.equal(findings[0]?.evidence['reason'], 'key-not-found');
  });
  it('a bound version that no longer exists is missing, and the newest usable version is the way back', () => {
    const findings = evaluate({ key: { status: 'ok', order: byCreated, bound: undefined, newestUsable: v2 } });
    assert.deepEqual(codes(findings), ['key-missing', 'version-drift']);
    assert.equal(only(findings, 'key-missing').evidence['reason'], 'version-not-found');
    assert.equal(only(findings, 'version-drift').evidence['newestUsableVersion'], v2.version);
  });
  it('a 403 reading the key is reported with the binding as evidence', () => {
    const f = only(evaluate({ key: { status: 'access-denied' } }), 'key-access-denied');
    assert.equal(f.severity, FINDING_RULES['key-access-denied'].severity);
    assert.equal(f.evidence['keyName'], 'cmk');
    assert.equal(f.evidence['vaultUri'], VAULT);
  });
});

describe('unsupported-key', () => {
  const flagged = (bound: KeyVersionInfo, sizes = [2048]): boolean =>
    codes(evaluate({ key: { status: 'ok', order: byCreated, bound, newestUsable: bound }, policy: { ...policy, allowedKeySizes: sizes } })).includes('unsupported-key');
  it('RSA 2048 passes with the default policy', () => assert.equal(flagged(v1), false));
  it('RSA 4096 is flagged with the default policy', () => assert.equal(flagged({ ...v1, keySize: 4096 }), true));
  it('RSA 4096 passes when the policy allows it', () => assert.equal(flagged({ ...v1, keySize: 4096 }, [2048, 4096]), false));
  it('RSA-HSM 2048 passes', () => assert.equal(flagged({ ...v1, kty: 'RSA-HSM' }), false));
  it('an EC key is flagged, with type and size as evidence', () => {
    const f = only(withBound({ ...v1, kty: 'EC', keySize: undefined }), 'unsupported-key');
    assert.equal(f.severity, 'warning');
    assert.equal(f.evidence['kty'], 'EC');
    assert.equal(f.evidence['keySize'], null);
  });
});

describe('vault-not-recoverable', () => {
  const levels: Array<[string, boolean]> = [
    ['Recoverable', true], ['CustomizedRecoverable', true], ['Recoverable+ProtectedSubscription', true],
    ['CustomizedRecoverable+ProtectedSubscription', true], ['Recoverable+Purgeable', false],
    ['CustomizedRecoverable+Purgeable', false], ['Purgeable', false],
  ];
  for (const [level, protectedFromPurge] of levels) {
    it(`recoveryLevel ${level} ${protectedFromPurge ? 'passes' : 'is flagged'}`, () => {
      assert.equal(protectsFromPurge(level), protectedFromPurge);
      const found = codes(withBound({ ...v1, recoveryLevel: level })).includes('vault-not-recoverable');
      assert.equal(found, !protectedFromPurge);
    });
  }
  it('a vault without purge protection is flagged with both sources as evidence', () => {
    const { enablePurgeProtection: _p, ...noPurge } = vault;
    const f = only(evaluate({ vault: { status: 'ok', vault: noPurge } }), 'vault-not-recoverable');
    assert.equal(f.severity, 'warning');
    assert.deepEqual(
      [f.evidence['recoveryLevel'], f.evidence['enableSoftDelete'], f.evidence['enablePurgeProtection']],
      ['Recoverable', true, null],
    );
  });
  it('soft delete explicitly off is flagged; soft delete unset is ARM default on', () => {
    assert.ok(codes(withVault({ enableSoftDelete: false })).includes('vault-not-recoverable'));
    const { enableSoftDelete: _s, ...unset } = vault;
    assert.deepEqual(evaluate({ vault: { status: 'ok', vault: unset } }), []);
  });
});

describe('identity', () => {
  it('no identity is critical, and no access finding is added on top', () => {
    const { identity: _i, ...rest } = boundAccount('a1', v1.version);
    assert.deepEqual(codes(evaluate({ account: rest })), ['identity-missing']);
    assert.equal(only(evaluate({ account: rest }), 'identity-missing').severity, 'critical');
  });
  it("type 'None' is missing", () => {
    const account = boundAccount('a1', v1.version, { identity: { type: 'None' } });
    assert.deepEqual(codes(evaluate({ account })), ['identity-missing']);
  });
  it('user-assigned only without identityClientId: a warning citing the kind\'s doc, and no identity reads the key (critical)', () => {
    const account = boundAccount('a1', v1.version, { identity: { type: 'UserAssigned', tenantId: 't' } });
    const findings = evaluate({ account });
    const f = only(findings, 'identity-not-system-assigned');
    assert.equal(f.severity, 'warning');
    assert.equal(f.evidence['kind'], 'OpenAI');
    assert.match(String(f.evidence['doc']), /Azure OpenAI CMK doc supports the system-assigned managed identity only/);
    assert.match(String(only(findings, 'access-missing').evidence['reason']), /no identityClientId/);
  });
  it("'SystemAssigned, UserAssigned' is fine", () => {
    const account = boundAccount('a1', v1.version, { identity: { type: 'SystemAssigned, UserAssigned', principalId: 'p', tenantId: 't' } });
    assert.deepEqual(evaluate({ account }), []);
  });
});

describe('region and tenant', () => {
  it('a vault in another region is flagged', () => {
    const f = only(withVault({ location: 'westus' }), 'region-mismatch');
    assert.equal(f.severity, 'warning');
    assert.deepEqual([f.evidence['accountLocation'], f.evidence['vaultLocation']], ['eastus', 'westus']);
  });
  it("'West US' and 'westus' are the same region", () => {
    const account = boundAccount('a1', v1.version, { location: 'westus' });
    assert.deepEqual(evaluate({ account, vault: { status: 'ok', vault: { ...vault, location: 'West US' } } }), []);
  });
  it('a vault in another tenant is critical', () => {
    const f = only(withVault({ tenantId: 'other-tenant' }), 'tenant-mismatch');
    assert.equal(f.severity, 'critical');
    assert.deepEqual([f.evidence['identityTenantId'], f.evidence['vaultTenantId']], ['t', 'other-tenant']);
  });
});

describe('access to the key', () => {
  const policyFor = (objectId: string, keys: string[], tenantId = 't') => ({ accessPolicies: [{ tenantId, objectId, keys }] });
  it('lists the one missing permission', () => {
    const f = only(withVault(policyFor('p', ['get', 'wrapKey'])), 'access-missing');
    assert.equal(f.severity, 'critical');
    assert.equal(f.evidence['missing'], 'unwrapKey');
    assert.equal(f.evidence['principalId'], 'p');
  });
  it('a policy for another object grants nothing', () => {
    assert.equal(only(withVault(policyFor('someone-else', ['get', 'wrapKey', 'unwrapKey'])), 'access-missing').evidence['missing'], 'get,wrapKey,unwrapKey');
  });
  it('a policy for the same object id in another tenant grants nothing', () => {
    assert.ok(codes(withVault(policyFor('p', ['get', 'wrapKey', 'unwrapKey'], 'other'))).includes('access-missing'));
  });
  it('permissions split across two entries add up; the legacy "all" grants everything', () => {
    assert.deepEqual(withVault({ accessPolicies: [{ tenantId: 't', objectId: 'p', keys: ['get'] }, { tenantId: 't', objectId: 'p', keys: ['wrapkey', 'UNWRAPKEY'] }] }), []);
    assert.deepEqual(withVault(policyFor('p', ['all'])), []);
  });
  it('an RBAC vault whose role assignments the service may not read is unverifiable, naming the permission, never guessed missing', () => {
    const rbac = { status: 'ok' as const, vault: { ...vault, enableRbacAuthorization: true, accessPolicies: [] } };
    const denied = evaluate({ vault: rbac, grants: { status: 'denied', permission: 'Microsoft.Authorization/roleAssignments/read', detail: '403' } });
    assert.deepEqual(codes(denied), ['access-unverifiable']);
    assert.equal(denied[0]?.severity, 'warning');
    assert.equal(denied[0]?.evidence['lacking'], 'Microsoft.Authorization/roleAssignments/read');
    const none = evaluate({ vault: rbac, grants: { status: 'read', assignments: [], definitions: [] } });
    assert.deepEqual(codes(none), ['access-missing']);
    assert.equal(none[0]?.evidence['missing'], 'get,wrapKey,unwrapKey');
    assert.match(none[0]?.remedy ?? '', /Key Vault Crypto Service Encryption User/);
  });
  it('a key read through a user-assigned identity is checked for that identity\'s principal', () => {
    const uai = { '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1': { principalId: 'u1', clientId: 'c1' } };
    const account = boundAccount('a1', v1.version, {
      kind: 'AIServices', identity: { type: 'UserAssigned', tenantId: 't', userAssignedIdentities: uai },
      binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: v1.version, identityClientId: 'C1' },
    });
    const missing = only(evaluate({ account }), 'access-missing');
    assert.deepEqual([missing.evidence['principalId'], missing.evidence['identity']], ['u1', 'user-assigned']);
    assert.deepEqual(evaluate({ account, vault: { status: 'ok', vault: { ...vault, accessPolicies: [{ tenantId: 't', objectId: 'u1', keys: ['get', 'wrapKey', 'unwrapKey'] }] } } }), [],
      'AIServices accepts a user-assigned identity: nothing to report');
  });
  it('an identityClientId that names no identity of the account is missing access', () => {
    const account = boundAccount('a1', v1.version, { kind: 'AIServices', binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: v1.version, identityClientId: 'nobody' } });
    assert.match(String(only(evaluate({ account }), 'access-missing').evidence['reason']), /identityClientId nobody names no user-assigned identity/);
  });
});

describe('provisioning-failed and vault-unreadable', () => {
  it('a Failed account is critical', () => {
    const f = only(evaluate({ account: boundAccount('a1', v1.version, { provisioningState: 'Failed' }) }), 'provisioning-failed');
    assert.equal(f.severity, 'critical');
    assert.deepEqual(evaluate({ account: boundAccount('a1', v1.version, { provisioningState: 'Accepted' }) }), []);
  });
  it('a vault not found or not readable skips the vault checks and says why', () => {
    const notFound = evaluate({ vault: { status: 'not-found' }, account: boundAccount('a1', v1.version, { identity: { type: 'SystemAssigned', principalId: 'p', tenantId: 'x' } }) });
    assert.deepEqual(codes(notFound), ['vault-unreadable']);
    assert.equal(notFound[0]?.evidence['status'], 'not-found');
    const error = only(evaluate({ vault: { status: 'error', reason: 'AuthorizationFailed (403)' } }), 'vault-unreadable');
    assert.equal(error.evidence['reason'], 'AuthorizationFailed (403)');
    assert.equal(error.severity, FINDING_RULES['vault-unreadable'].severity);
  });
  it('the key recovery level is still judged without the vault', () => {
    const findings = evaluate({ vault: { status: 'not-found' }, key: { status: 'ok', order: byCreated, bound: { ...v1, recoveryLevel: 'Recoverable+Purgeable' }, newestUsable: undefined } });
    assert.deepEqual(codes(findings).sort(), ['vault-not-recoverable', 'vault-unreadable']);
  });
});

describe('ordering and summary', () => {
  it('critical findings come first', () => {
    const findings = evaluate({
      account: boundAccount('a1', v1.version, { provisioningState: 'Failed' }),
      key: { status: 'ok', order: byCreated, bound: { ...v1, enabled: false, keySize: 4096 }, newestUsable: v2 },
    });
    const severities = findings.map((f) => f.severity);
    assert.deepEqual(severities, [...severities].sort((a, b) => ['critical', 'warning', 'info'].indexOf(a) - ['critical', 'warning', 'info'].indexOf(b)));
    assert.deepEqual(codes(findings).slice(0, 2).sort(), ['key-disabled', 'provisioning-failed']);
  });
  it('summarise counts by code and by severity across accounts', () => {
    const a = evaluate({ key: { status: 'ok', order: byCreated, bound: v1, newestUsable: v2 } });
    const b = evaluate({ key: { status: 'ok', order: byCreated, bound: { ...v1, enabled: false }, newestUsable: v2 } });
    const c = evaluate();
    assert.deepEqual(summarise([a, b, c]), {
      findingsByCode: { 'key-disabled': 1, 'version-drift': 2 },
      findingsBySeverity: { critical: 1, warning: 2, info: 0 },
    });
    assert.deepEqual(summarise([]), { findingsByCode: {}, findingsBySeverity: { critical: 0, warning: 0, info: 0 } });
  });
  it('every code has a severity and a reason, and every code is documented in README', () => {
    const readme = readFileSync(join(projectRoot(), 'README.md'), 'utf8');
    for (const code of FINDING_CODES) {
      assert.ok(FINDING_RULES[code].why.length > 20, code);
      assert.match(readme, new RegExp(`\\| \`${code}\` \\| ${FINDING_RULES[code].severity} \\|`), `README lists ${code} as ${FINDING_RULES[code].severity}`);
    }
  });
});
