import assert from 'node:assert/strict';
import { evaluateAccount, type AccountEvaluation, type Finding, type FindingCode } from '../../shared/domain/findings';
import { versionOrder } from '../../shared/domain/keys';
import type { KeyVersionInfo, VaultInfo } from '../../shared/domain/model';
import { boundAccount, hex, keyVersion } from './fakes';

// The compliance findings' tests share one healthy account, its key and its vault, changed one part at a time.
export const now = new Date('2026-06-01T00:00:00Z');
export const DAY = 86_400_000;
export const policy = { allowedKeySizes: [2048], expiryMarginMs: 24 * 3_600_000 };
export const v1 = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
export const v2 = keyVersion(hex(2), { createdOn: new Date('2026-03-01T00:00:00Z') });
/** No current version named: versions ordered by created alone. */
export const byCreated = versionOrder(undefined);
export const vault: VaultInfo = {
  id: '/subscriptions/s/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-one',
  name: 'kv-one', location: 'East US', tenantId: 'T', vaultUri: 'https://kv-one.vault.azure.net',
  enableSoftDelete: true, enablePurgeProtection: true, enableRbacAuthorization: false,
  accessPolicies: [{ tenantId: 't', objectId: 'P', keys: ['Get', 'WrapKey', 'UnwrapKey', 'List'] }],
};

/** What is judged of a healthy account (bound to v1, the newest usable version) with one part changed. */
export function evaluation(over: Partial<AccountEvaluation> = {}): AccountEvaluation {
  return {
    account: boundAccount('a1', v1.version),
    key: { status: 'ok', order: byCreated, bound: v1, newestUsable: v1 },
    vault: { status: 'ok', vault },
    policy, nearExpiryDays: 30, now, ...over,
  };
}

/** The findings of that account. */
export function evaluate(over: Partial<AccountEvaluation> = {}): Finding[] {
  return evaluateAccount(evaluation(over));
}
export const codes = (findings: Finding[]): FindingCode[] => findings.map((f) => f.code);
export const only = (findings: Finding[], code: FindingCode): Finding => {
  const found = findings.find((f) => f.code === code);
  assert.ok(found, `expected ${code} in [${codes(findings).join(', ')}]`);
  return found;
};
export const withBound = (bound: KeyVersionInfo): Finding[] => evaluate({ key: { status: 'ok', order: byCreated, bound, newestUsable: v1 } });
export const withVault = (changes: Partial<VaultInfo>): Finding[] => evaluate({ vault: { status: 'ok', vault: { ...vault, ...changes } } });

