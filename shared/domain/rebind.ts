import { describeKey, sameKey, unusableReasons, type KeyPolicy } from './keys';
import type { AccountState, KeyBinding, KeyVersionInfo, RotationStatus } from './model';

/** What a rebind job asks for: the key it is about and the version it wants bound. */
export interface RebindRequest {
  vaultUri: string;
  keyName: string;
  /** A person may move an account to an older version on purpose (rule 3). */
  force: boolean;
}

export type RebindDecision =
  | { action: 'patch'; binding: KeyBinding; from: string; to: string }
  | { action: 'none'; status: Extract<RotationStatus, 'skipped' | 'already-current' | 'refused'>; reason: string };

/**
 * DESIGN §2 rules 1-5: decides whether an account moves to `target`. Pure: the caller has read
 * the account, the target version and (for rule 3) the version currently bound.
 */
export function decideRebind(input: {
  account: AccountState;
  request: RebindRequest;
  target: KeyVersionInfo | undefined;
  current: KeyVersionInfo | undefined;
  policy: KeyPolicy;
  now: Date;
}): RebindDecision {
  const { account, request, target, current, policy, now } = input;
  const binding = account.binding;

  // Rule 1: the account must still be bound to the job's key.
  if (account.keySource !== 'Microsoft.KeyVault' || !binding) {
    return { action: 'none', status: 'skipped', reason: 'binding-changed: account no longer uses a Key Vault key' };
  }
  if (!sameKey(binding, request)) {
    return {
      action: 'none',
      status: 'skipped',
      reason: `binding-changed: account is bound to ${binding.vaultUri} key ${binding.keyName}, not ${request.vaultUri} key ${request.keyName}`,
    };
  }

  // Rule 2: the target version must be usable.
  if (!target) return { action: 'none', status: 'refused', reason: 'key-missing: target version not found in Key Vault' };
  const unusable = unusableReasons(target, policy, now);
  if (unusable.length) {
    return { action: 'none', status: 'refused', reason: `${unusable.join(', ')} (${describeKey(target)})` };
  }

  // Rule 4: nothing to do when the target is already bound.
  if (binding.keyVersion.toLowerCase() === target.version.toLowerCase()) {
    return { action: 'none', status: 'already-current', reason: `already bound to ${target.version}` };
  }

  // Rule 3: never move to an older version unless a person forces it.
  const currentCreated = current?.createdOn?.getTime();
  const targetCreated = target.createdOn?.getTime();
  if (!request.force && currentCreated !== undefined && targetCreated !== undefined && currentCreated > targetCreated) {
    return {
      action: 'none',
      status: 'skipped',
      reason: `stale-target: bound version ${binding.keyVersion} (created ${new Date(currentCreated).toISOString()}) is newer than ${target.version}`,
    };
  }

  // Rule 5: only keyVersion changes; vault URI, key name and identity go back as they were.
  return {
    action: 'patch',
    binding: { ...binding, keyVersion: target.version },
    from: binding.keyVersion,
    to: target.version,
  };
}

/** Rule 6: the account proves the rebind only when it reports the target version and Succeeded. */
export function verifyRebind(account: AccountState | undefined, to: string): Verified {
  if (!account) return { ok: false, reason: 'account not found after update' };
  const bound = account.binding?.keyVersion;
  if (account.keySource !== 'Microsoft.KeyVault' || bound?.toLowerCase() !== to.toLowerCase()) {
    return { ok: false, reason: `account reports key version ${bound ?? 'none'} after update, expected ${to}` };
  }
  return verifyProvisioned(account);
}

export type Verified = { ok: true } | { ok: false; reason: string };

/** Rule 6 for every change: an account read back after the update must exist and report Succeeded. */
export function verifyProvisioned(account: AccountState | undefined): Verified {
  if (!account) return { ok: false, reason: 'account not found after update' };
  if (account.provisioningState !== 'Succeeded') {
    return { ok: false, reason: `account provisioningState is ${account.provisioningState ?? 'unknown'} after update` };
  }
  return { ok: true };
}
