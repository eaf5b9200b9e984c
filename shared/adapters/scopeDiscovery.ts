import { setTimeout as sleep } from 'node:timers/promises';
import { parseAccountId } from '../domain/accounts';
import type { AccountState, EncryptionScopeState } from '../domain/model';
import { bindingsTo, cmkBindings } from '../domain/scopes';
import { DependencyError } from '../errors';
import type { AccountDiscovery, AccountSource, AccountStore, IndexedScope, ScopeIndex } from '../ports';
import { forEachLimited } from '../concurrency';

type ScopeLister = Pick<AccountStore, 'listEncryptionScopes'>;

/** Scope listings in flight at once (each is one ARM read, paced with the others). */
export const SCOPE_LISTINGS_IN_FLIGHT = 32;
/** A sweep makes a listing per account, so a passing fault on one must not fail them all. */
const ATTEMPTS = 5;
const FIRST_WAIT_MS = 100;
const PAGE = 100;

/**
 * Discovery with encryption scopes (ENCRYPTION_SCOPES=on). Resource Graph does not index accounts/encryptionScopes,
 * so a sweep lists every account's scopes through ARM (one read per account) and the sweep records the CMK ones in
 * the scope index; an event or a rotation by key takes the accounts bound to the key from the source, filtered
 * there, and the scopes bound to it from the index, so it costs no read per account. A scope bound after the last
 * sweep is found by the next one (which, in enforce mode, repairs its drift). Without an index (off), scopes are
 * neither listed nor found.
 */
export class ScopedDiscovery implements AccountDiscovery {
  constructor(
    private readonly source: AccountSource,
    /** Without an index (the CLI, which has no storage), a rotation by key lists every account's scopes, as a sweep does. */
    private readonly scopes?: { lister: ScopeLister; index?: Pick<ScopeIndex, 'boundTo'> },
  ) {}

  async *boundTo(key: { vaultUri: string; keyName: string }): AsyncIterable<AccountState[]> {
    if (this.scopes && !this.scopes.index) {
      for await (const page of this.source.allAccounts()) yield (await withScopes(page, this.scopes.lister)).filter((a) => bindingsTo(a, key).length > 0);
      return;
    }
    yield* this.source.boundTo(key);
    if (!this.scopes?.index) return;
    const holders = accountsOf(await this.scopes.index.boundTo(key));
    for (let i = 0; i < holders.length; i += PAGE) yield holders.slice(i, i + PAGE);
  }

  async *cmkAccounts(): AsyncIterable<AccountState[]> {
    if (!this.scopes) {
      yield* this.source.cmkAccounts();
      return;
    }
    for await (const page of this.source.allAccounts()) {
      yield (await withScopes(page, this.scopes.lister)).filter((a) => cmkBindings(a).length > 0);
    }
  }
}

/** One account per indexed account, holding only its indexed scopes (what acts on them reads them through ARM first). */
function accountsOf(indexed: IndexedScope[]): AccountState[] {
  const byAccount = new Map<string, AccountState>();
  for (const { accountId, tags, scope } of indexed) {
    const ref = parseAccountId(accountId);
    if (!ref) continue;
    const account = byAccount.get(accountId.toLowerCase()) ?? { ...ref, tags, encryptionScopes: [] };
    account.encryptionScopes?.push(scope);
    byAccount.set(accountId.toLowerCase(), account);
  }
  return [...byAccount.values()];
}

/** Lists each account's encryption scopes through ARM: one read per account. */
async function withScopes(accounts: AccountState[], scopes: ScopeLister): Promise<AccountState[]> {
  await forEachLimited(accounts, SCOPE_LISTINGS_IN_FLIGHT, async (account) => {
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
