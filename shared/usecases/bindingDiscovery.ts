import type { AccountState } from '../domain/model';
import { bindingsTo, type BoundTarget } from '../domain/scopes';
import type { AccountDiscovery } from '../ports';
import { readAhead } from '../concurrency';

/** One binding to the key being acted on: an account's own, or one of its encryption scopes', with its account. */
export type KeyBindingTarget = BoundTarget & { account: AccountState };

/** One page of discovery: the bindings to act on, and the accounts their owners opted out. */
export interface BindingPage {
  eligible: AccountState[];
  bindings: KeyBindingTarget[];
  optedOut: AccountState[];
}

/** An account opts out with the tag set to anything but "false" (tag name and value compared case-insensitively). */
/** Why a job leaves an opted-out account alone. */
export const optedOutReason = (tag: string): string => `opted-out: the account carries the tag ${tag}`;

export function optedOut(account: AccountState, tag: string): boolean {
  const wanted = tag.toLowerCase();
  for (const [name, value] of Object.entries(account.tags)) if (name.toLowerCase() === wanted) return value.toLowerCase() !== 'false';
  return false;
}

/**
 * The bindings to this key that discovery finds, page by page (the next page read while the caller works on
 * this one), with opted-out accounts set apart: whatever the source, every caller filters the same way.
 */
export async function* bindingPages(discovery: AccountDiscovery, key: { vaultUri: string; keyName: string }, optOutTag: string): AsyncIterable<BindingPage> {
  for await (const page of readAhead(discovery.boundTo(key))) {
    const eligible: AccountState[] = [];
    const out: AccountState[] = [];
    for (const account of page) (optedOut(account, optOutTag) ? out : eligible).push(account);
    yield { eligible, bindings: eligible.flatMap((account) => bindingsTo(account, key).map((t) => ({ ...t, account }))), optedOut: out };
  }
}
