import { setTimeout as sleep } from 'node:timers/promises';
import type { AccountState, EncryptionScopeState } from '../domain/model';
import { DependencyError } from '../errors';
import type { AccountStore } from '../ports';
import { forEachLimited } from '../usecases/concurrency';

export type ScopeLister = Pick<AccountStore, 'listEncryptionScopes'>;

/** Scope listings in flight at once (each is one ARM read, paced with the others). */
const CONCURRENCY = 8;
/** One discovery makes a listing per account, so a passing fault on one must not fail them all. */
const ATTEMPTS = 5;
const FIRST_WAIT_MS = 100;

/**
 * Resource Graph does not index accounts/encryptionScopes (its resources table lists accounts, not their scopes),
 * so each candidate account's scopes are listed through ARM: one read per account and discovery.
 */
export async function withScopes(accounts: AccountState[], scopes: ScopeLister): Promise<AccountState[]> {
  await forEachLimited(accounts, CONCURRENCY, async (account) => {
    account.encryptionScopes = await listScopes(scopes, account.id);
  });
  return accounts;
}

/** Retryable trouble (throttling without Retry-After, which the SDK does not retry, 5xx, resets) is retried here. */
async function listScopes(scopes: ScopeLister, accountId: string): Promise<EncryptionScopeState[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await scopes.listEncryptionScopes(accountId);
    } catch (error) {
      if (!(error instanceof DependencyError) || !error.retryable || attempt >= ATTEMPTS) throw error;
      await sleep(error.retryAfterMs ?? FIRST_WAIT_MS * 2 ** (attempt - 1));
    }
  }
}
