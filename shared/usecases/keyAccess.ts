import { accessPlane, keyIdentity, type GrantsView } from '../domain/access';
import { managedHsmHost } from '../domain/keys';
import type { AccountState, KeyBinding, VaultInfo } from '../domain/model';
import { managedHsmKindRefusal, preflightAccess, type PreflightVerdict } from '../domain/preflight';
import type { GrantTarget, RoleGrantReader, VaultDirectory } from '../ports';
import { Recent } from '../recent';

const NOTHING: Promise<undefined> = Promise.resolve(undefined);

/** Role grants read once per vault and principal: one instance per sweep, or per job. */
export class GrantReads {
  private readonly reads = new Recent<GrantsView>();

  constructor(private readonly reader: RoleGrantReader) {}

  /**
   * What the access proof needs for this account and binding (its own, or a scope's): undefined for an access-policy
   * vault, or when no identity reads the key.
   */
  forAccount(account: AccountState, vault: VaultInfo, binding = account.binding): Promise<GrantsView | undefined> {
    const plane = accessPlane(vault);
    if (plane === 'access-policy') return NOTHING;
    const identity = keyIdentity(account, binding);
    if (identity.status !== 'found') return NOTHING;
    // An HSM's local RBAC is read on its key host, `<name>.managedhsm.<suffix>`, the one its key ids name (the hsmUri
    // ARM answers with, and a binding copied from it, may put a region before the name).
    const target: GrantTarget = plane === 'managed-hsm' ? { plane, hsmUri: `https://${managedHsmHost(binding?.vaultUri ?? vault.vaultUri)}/` } : { plane, vaultId: vault.id };
    const where = target.plane === 'managed-hsm' ? target.hsmUri : vault.id;
    return this.reads.get(`${plane}|${where}|${identity.principalId}`.toLowerCase(), () => this.reader.read(target, identity.principalId));
  }
}

export interface PreflightDeps {
  /** Knows where each vault lives (kept per process); readVault reads the vault itself (a few seconds old at most). */
  vaults: VaultDirectory;
  /** A reader for each job or sweep: role assignments are read each time (a revoked role must not be remembered). */
  roleGrants: () => RoleGrantReader;
}

/**
 * The preflight before a PATCH that binds `key`: the vault (or HSM) read through ARM, the identity's role grants
 * where the vault uses RBAC, and the domain's verdict. The vault's read may be a few seconds old (one key fanned
 * out to many accounts reads it once), so a refusal is made only on a fresh read: a grant just made is seen.
 * Azure failures throw (the job retries).
 */
export async function preflightKey(account: AccountState, key: { vaultUri: string; keyName: string }, deps: PreflightDeps): Promise<PreflightVerdict> {
  const early = managedHsmKindRefusal(account, key.vaultUri);
  if (early) return { ok: false, reason: early };
  const verdict = await check(account, key, deps, false);
  return verdict.ok ? verdict : check(account, key, deps, true);
}

/**
 * The preflight before a PATCH that binds `binding` to the account or one of its scopes: the identity that would read
 * it (the account's, or the one its identityClientId names) must use its key. The version plays no part, so a rotateKey
 * dry run checks the binding it has before Key Vault makes the new version.
 */
export function preflightBinding(account: AccountState, binding: KeyBinding, deps: PreflightDeps): Promise<PreflightVerdict> {
  return preflightKey({ ...account, binding }, binding, deps);
}

async function check(account: AccountState, key: { vaultUri: string; keyName: string }, deps: PreflightDeps, fresh: boolean): Promise<PreflightVerdict> {
  const vault = await deps.vaults.readVault(key.vaultUri, { fresh });
  if (!vault) return preflightAccess({ account, ...key, vault: { status: 'not-found' } });
  const hsm = managedHsmKindRefusal(account, key.vaultUri, vault.kind);
  if (hsm) return { ok: false, reason: hsm };
  const grants = await new GrantReads(deps.roleGrants()).forAccount(account, vault);
  return preflightAccess({ account, ...key, vault: { status: 'ok', vault }, grants });
}
