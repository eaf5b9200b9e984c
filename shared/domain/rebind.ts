import { describeKey, sameKey, unusableReasons, type KeyPolicy, type VersionOrder, type VersionStamp } from './keys';
import { isVersionless, type BindingHolder, type KeyBinding, type KeyVersionInfo, type RotationStatus, type Trigger } from './model';

/** What a rebind job asks for: the key it is about and the version it wants bound. */
interface RebindRequest {
  vaultUri: string;
  keyName: string;
  /** A person may move an account to an older version on purpose (rule 3); it pins the account (§2a). */
  force: boolean;
  trigger: Trigger;
  /** A person named the version (keyVersion in the request): only that may pin a versionless binding (§2a). */
  versionNamed?: boolean;
}

/** §2a: a person's forced rebind holds the account at that version until a person releases it. */
export interface Pin {
  accountId: string;
  /** A pin of one of the account's encryption scopes; absent for the account's own binding. */
  encryptionScope?: string;
  keyVersion: string;
  actor: string;
  reason: string;
  pinnedAt: string;
  jobId: string;
  /**
   * The pins this one replaced, nearest first (JSON of a Pin array): the first holds the binding again if this one is
   * taken back, keeping the rest.
   */
  replaces?: string;
}

/** Why a job for an account that no longer exists does nothing. */
export const ACCOUNT_MISSING = 'account-missing: the account no longer exists';

/** Why a job for an encryption scope that no longer exists does nothing. */
export const scopeMissing = (scope: string): string => `scope-missing: the account has no encryption scope ${scope}`;

/** Why a versionless binding is left alone (by every job but a person's that names a version). */
export const VERSIONLESS_SKIP = 'versionless: the binding names no key version ("latest"), so it is left as the owner set it; a person may set a version by naming a keyVersion';

/** Why a job for a binding that no longer uses a Key Vault key does nothing. */
export const BINDING_GONE = 'binding-changed: account no longer uses a Key Vault key';

/** Rule 1: why the account (or scope) is no longer bound to `key`; undefined while it is. */
export function bindingChanged(account: BindingHolder, key: { vaultUri: string; keyName: string }): string | undefined {
  const binding = account.binding;
  if (account.keySource !== 'Microsoft.KeyVault' || !binding) return BINDING_GONE;
  if (!sameKey(binding, key)) return `binding-changed: account is bound to ${binding.vaultUri} key ${binding.keyName}, not ${key.vaultUri} key ${key.keyName}`;
  return undefined;
}

export type RebindDecision =
  | { action: 'patch'; binding: KeyBinding; from: string; to: string; downgrade: boolean }
  | { action: 'none'; status: Extract<RotationStatus, 'skipped' | 'already-current' | 'refused'>; reason: string };

/**
 * DESIGN §2 rules 1-5 and the pin of §2a: decides whether an account moves to `target`. Pure: the
 * caller has read the account, the target version, when the bound version was created, and the key's
 * current version (which orders versions made in the same second).
 */
export function decideRebind(input: {
  /** The account, or one of its encryption scopes: each follows these rules for its own binding. */
  account: BindingHolder;
  request: RebindRequest;
  target: KeyVersionInfo | undefined;
  /** Why there is no target, when it is not that Key Vault lacks the version asked for (rule 2's refusal). */
  noTarget?: string | undefined;
  /** The bound version as rule 3 needs it; undefined when Key Vault no longer has it. */
  bound: VersionStamp | undefined;
  order: VersionOrder;
  pin?: Pin | undefined;
  policy: KeyPolicy;
  now: Date;
}): RebindDecision {
  const { account, request, target, noTarget, bound, order, pin, policy, now } = input;
  const binding = account.binding;

  // Rule 1: the account must still be bound to the job's key.
  const changed = bindingChanged(account, request);
  if (changed || !binding) return { action: 'none', status: 'skipped', reason: changed ?? BINDING_GONE };

  // §2a: events and sweeps leave a pinned account where a person put it.
  if (pin && request.trigger !== 'manual') {
    return { action: 'none', status: 'skipped', reason: `pinned by ${pin.actor} to ${pin.keyVersion}: ${pin.reason}` };
  }

  // §2a: a versionless binding is the owner's choice; only a person naming a version gives it one.
  if (isVersionless(binding) && !(request.trigger === 'manual' && request.versionNamed)) return { action: 'none', status: 'skipped', reason: VERSIONLESS_SKIP };

  // Rule 2: the target version must be usable.
  if (!target) return { action: 'none', status: 'refused', reason: noTarget ?? 'key-missing: target version not found in Key Vault' };
  const unusable = unusableReasons(target, policy, now);
  if (unusable.length) {
    return { action: 'none', status: 'refused', reason: `${unusable.join(', ')} (${describeKey(target)})` };
  }

  // Rule 4: nothing to do when the target is already bound.
  if (binding.keyVersion.toLowerCase() === target.version.toLowerCase()) {
    return { action: 'none', status: 'already-current', reason: `already bound to ${target.version}` };
  }

  // Rule 3: never move to an older version, or to one whose age against the bound one cannot be known.
  const age = bound ? order.compare(target, bound) : 1;
  if (!request.force && age === undefined) {
    return {
      action: 'none',
      status: 'skipped',
      reason: `stale-target: ${target.version} and the bound ${binding.keyVersion} ${unordered(target, bound)} and neither is the key's current version (${order.current ?? 'unknown'}), so ${target.version} is not known to be newer`,
    };
  }
  if (!request.force && age !== undefined && age < 0) {
    return {
      action: 'none',
      status: 'skipped',
      reason: `stale-target: bound version ${binding.keyVersion} (created ${bound?.createdOn?.toISOString() ?? 'unknown'}) is newer than ${target.version}`,
    };
  }

  // Rule 5: only keyVersion changes; vault URI, key name and identity go back as they were.
  return {
    action: 'patch',
    binding: { ...binding, keyVersion: target.version },
    from: binding.keyVersion,
    to: target.version,
    downgrade: age === undefined || age < 0,
  };
}

/**
 * Rule 6's read-back, four ways: the change took effect (the account reports it and Succeeded); the account is
 * still busy, so only a later read can tell; it settled without the change, so it is known not to have moved; or
 * it reports the change without Succeeded, so it moved and nothing verifies it.
 */
export type ReadBack =
  | { verdict: 'applied' }
  | { verdict: 'unsettled'; reason: string }
  | { verdict: 'not-applied'; reason: string }
  | { verdict: 'unverified'; reason: string };

/** Provisioning states in which no update is running (DESIGN §4 lists the others). */
const SETTLED_STATES = new Set(['succeeded', 'failed', 'canceled']);

export function isSettled(account: Pick<BindingHolder, 'provisioningState'>): boolean {
  return account.provisioningState === undefined || SETTLED_STATES.has(account.provisioningState.toLowerCase());
}

export function readBack<T extends BindingHolder>(account: T | undefined, applied: (account: T) => string | undefined): ReadBack {
  if (!account) return { verdict: 'not-applied', reason: 'the account no longer exists' };
  if (!isSettled(account)) return { verdict: 'unsettled', reason: `the account is still ${account.provisioningState}` };
  const missing = applied(account);
  if (missing) return { verdict: 'not-applied', reason: missing };
  // Rule 6: the change and Succeeded; Failed, Canceled (or no state at all) do not verify it.
  if (account.provisioningState?.toLowerCase() !== 'succeeded') {
    return { verdict: 'unverified', reason: `the account reports the change but provisioningState ${account.provisioningState ?? '(none)'}` };
  }
  return { verdict: 'applied' };
}

/** What a read-back found, for a row's reason; undefined: the account could not be read. */
export const readBackReason = (truth: ReadBack | undefined): string =>
  !truth ? 'the account could not be read back' : 'reason' in truth ? truth.reason : 'the account reports the change and Succeeded';

/** Rule 6's verdict in a row's reason. */
export const verifiedNote = (to: string | undefined): string => `verified: the account reports ${to ? `key version ${to}` : 'the change'} and Succeeded`;

/** Rule 6 for a rebind: what is missing when the account does not report the target version. */
export function reportsVersion(account: BindingHolder, to: string): string | undefined {
  const bound = account.binding?.keyVersion;
  if (account.keySource === 'Microsoft.KeyVault' && bound?.toLowerCase() === to.toLowerCase()) return undefined;
  return `the account reports key version ${bound || 'none'}, not ${to}`;
}

/** Why two versions have no order by creation time: made in the same second, or one's creation time unknown. */
function unordered(target: VersionStamp, bound: VersionStamp | undefined): string {
  const unknown = [target, bound].find((v) => v && !v.createdOn);
  return unknown ? `cannot be ordered by age (Key Vault gave no creation time for ${unknown.version})` : 'were created in the same second';
}
