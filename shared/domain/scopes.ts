// Encryption scopes (accounts/encryptionScopes): each carries its own binding and follows the account's rules (§2a).
import { accountFindings, evaluateAccount, type AccountEvaluation, type Finding, type FindingCode } from './findings';
import { sameKey } from './keys';
import type { AccountState, BindingHolder, EncryptionScopeState, KeyBinding } from './model';

/** ARM's encryption scope names: letters, digits, '-', '_' and '.' (no character a Table key refuses). */
export const SCOPE_NAME = /^[0-9A-Za-z][0-9A-Za-z_.-]{0,127}$/;

/** One key binding of an account: its own, or one of its scopes'. */
export interface BoundTarget {
  holder: BindingHolder & { binding: KeyBinding };
  scope?: EncryptionScopeState;
}

/** The account's own Key Vault binding (if any), then each scope's that uses a Key Vault key. */
export function cmkBindings(account: AccountState): BoundTarget[] {
  const targets: BoundTarget[] = [];
  // The holder is the account or the scope itself, not a copy (a sweep asks this of every account it judges).
  if (usesKeyVault(account)) targets.push({ holder: account });
  for (const scope of account.encryptionScopes ?? []) {
    if (usesKeyVault(scope)) targets.push({ holder: scope, scope });
  }
  return targets;
}

function usesKeyVault<T extends BindingHolder>(holder: T): holder is T & { binding: KeyBinding } {
  return holder.keySource === 'Microsoft.KeyVault' && holder.binding !== undefined;
}

/** The account's bindings to one key. */
export function bindingsTo(account: AccountState, key: { vaultUri: string; keyName: string }): BoundTarget[] {
  return cmkBindings(account).filter((t) => sameKey(t.holder.binding, key));
}

/** Pins and findings are kept per binding: the account's, or account + scope. */
export function bindingKey(accountId: string, scope?: string): string {
  return scope ? `${accountId.toLowerCase()}|${scope.toLowerCase()}` : accountId.toLowerCase();
}

/**
 * The account's identity reads the scope's key, so these are the account's findings when its own binding carries them
 * alike. The account's own binding is judged only when it uses a Key Vault key, and a scope's identityClientId may
 * name another identity than the account's: a scope keeps what the account's own judgement does not say.
 */
const ACCOUNT_ONLY: ReadonlySet<FindingCode> = new Set(['identity-missing', 'identity-not-system-assigned']);

/** A scope judged as the account would be with the scope's binding; each finding names the scope. */
export function evaluateScope(input: AccountEvaluation, scope: EncryptionScopeState): Finding[] {
  const { encryptionScopes: _scopes, ...account } = input.account;
  const seen = { ...account, provisioningState: scope.provisioningState, keySource: scope.keySource, binding: scope.binding } as AccountState;
  const said = new Set((usesKeyVault(account) ? accountFindings(account) : []).filter((f) => ACCOUNT_ONLY.has(f.code)).map(sameFinding));
  return evaluateAccount({ ...input, account: seen })
    .filter((f) => !(ACCOUNT_ONLY.has(f.code) && said.has(sameFinding(f))))
    .map((f) => ({ ...f, encryptionScope: scope.name, evidence: { encryptionScope: scope.name, ...f.evidence } }));
}

/** A finding's code and evidence, to tell whether the account's own judgement says the same. */
const sameFinding = (f: Finding): string => JSON.stringify([f.code, f.evidence]);
