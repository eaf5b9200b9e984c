// The checks right before a PATCH that binds a key: a wrong binding makes the account's data inaccessible, so
// what cannot be shown to work is refused and the account is left as it is.
import { proveKeyAccess, type GrantsView } from './access';
import type { VaultView } from './findings';
import { isManagedHsmUri } from './keys';
import { MANAGED_HSM_KINDS, managedHsmSupported } from './kinds';
import type { AccountState } from './model';

export type PreflightVerdict = { ok: true } | { ok: false; reason: string };

/** A key in a Managed HSM only for the kinds that support it (DESIGN §9); undefined when the target is fine. */
export function managedHsmKindRefusal(account: AccountState, vaultUri: string, vaultKind?: 'vault' | 'managedHsm'): string | undefined {
  const onHsm = isManagedHsmUri(vaultUri) || vaultKind === 'managedHsm';
  if (!onHsm || managedHsmSupported(account.kind)) return undefined;
  return `managed-hsm-kind-unsupported: ${vaultUri} is a Managed HSM, and CMK in Managed HSM is supported only for kinds ${MANAGED_HSM_KINDS.join(', ')}, not ${account.kind ?? 'unknown'}`;
}

/** The account's key identity must be shown to hold get, wrapKey and unwrapKey on the target key. */
export function preflightAccess(input: { account: AccountState; vaultUri: string; keyName: string; vault: VaultView; grants?: GrantsView | undefined }): PreflightVerdict {
  const { account, vaultUri, keyName, vault } = input;
  if (vault.status !== 'ok') {
    const why = vault.status === 'error' ? vault.reason : 'no subscription in SUBSCRIPTION_IDS holds it';
    return { ok: false, reason: `access-unverifiable: vault ${vaultUri} could not be read through ARM (${why}), so the identity's access to ${keyName} is not known` };
  }
  const verdict = proveKeyAccess({ account, vault: vault.vault, keyName, grants: input.grants });
  switch (verdict.status) {
    case 'granted': {
      // A vault or HSM accepts tokens of its own tenant only: no policy or role makes an identity of another tenant use it.
      const identityTenant = account.identity?.tenantId;
      const vaultTenant = vault.vault.tenantId;
      if (identityTenant && vaultTenant && identityTenant.toLowerCase() !== vaultTenant.toLowerCase()) {
        return { ok: false, reason: `access-missing: the account's identity is in tenant ${identityTenant}, and ${vault.vault.name} authorises principals of its tenant ${vaultTenant} only` };
      }
      return { ok: true };
    }
    case 'no-identity':
      return { ok: false, reason: 'access-missing: the account has no managed identity to read the key' };
    case 'missing':
      return { ok: false, reason: `access-missing: ${verdict.reason}` };
    case 'unverifiable':
      return { ok: false, reason: `access-unverifiable: ${verdict.reason}` };
    default: {
      const unknown: never = verdict;
      throw new Error(`Unhandled access verdict ${JSON.stringify(unknown)}`);
    }
  }
}
