import type { AccountState, EncryptionScopeState } from '../../../shared/domain/model';
import { bindingsTo, cmkBindings } from '../../../shared/domain/scopes';
import type { AccountDiscovery, AccountStore, EncryptionChange, UpdateVerdict } from '../../../shared/ports';

export class FakeAccountStore implements AccountStore {
  readonly accounts = new Map<string, AccountState>();
  readonly scopes = new Map<string, EncryptionScopeState>();
  /** Every write, the account's (no scope) or a scope's. */
  readonly patches: Array<{ accountId: string; scope?: string; change: EncryptionChange }> = [];
  /** What the account reports after a PATCH; default: the change applied and Succeeded. */
  afterPatch: (account: AccountState, change: EncryptionChange) => AccountState = (account, change) => ({
    ...account,
    provisioningState: 'Succeeded',
    keySource: change.keySource,
    ...(change.binding ? { binding: change.binding } : {}),
  });
  put(...accounts: AccountState[]): this {
    for (const a of accounts) this.accounts.set(a.id.toLowerCase(), structuredClone(a));
    return this;
  }
  putScope(...scopes: EncryptionScopeState[]): this {
    for (const s of scopes) this.scopes.set(s.id.toLowerCase(), structuredClone(s));
    return this;
  }
  async listEncryptionScopes(id: string): Promise<EncryptionScopeState[]> {
    return [...this.scopes.values()].filter((s) => s.accountId.toLowerCase() === id.toLowerCase()).map((s) => structuredClone(s));
  }
  async getEncryptionScope(id: string, name: string): Promise<EncryptionScopeState | undefined> {
    const s = this.scopes.get(`${id}/encryptionScopes/${name}`.toLowerCase());
    return s && structuredClone(s);
  }
  async updateEncryptionScope(id: string, name: string, change: EncryptionChange): Promise<UpdateVerdict> {
    this.patches.push({ accountId: id, scope: name, change: structuredClone(change) });
    const verdict = this.verdict(change);
    const key = `${id}/encryptionScopes/${name}`.toLowerCase();
    const s = this.scopes.get(key);
    if (s && verdict.status === 'succeeded') {
      this.scopes.set(key, { ...s, provisioningState: 'Succeeded', keySource: change.keySource, ...(change.binding ? { binding: change.binding } : {}) });
    }
    return verdict;
  }
  async *listAccounts(subscriptionId: string): AsyncIterable<AccountState> {
    for (const a of this.accounts.values()) if (a.subscriptionId === subscriptionId) yield structuredClone(a);
  }
  async getAccount(id: string): Promise<AccountState | undefined> {
    const a = this.accounts.get(id.toLowerCase());
    return a && structuredClone(a);
  }
  /** The operation's verdict; default: succeeded (and the change applied by afterPatch). */
  verdict: (change: EncryptionChange) => UpdateVerdict = () => ({ status: 'succeeded' });
  async updateEncryption(id: string, change: EncryptionChange): Promise<UpdateVerdict> {
    this.patches.push({ accountId: id, change: structuredClone(change) });
    const verdict = this.verdict(change);
    const a = this.accounts.get(id.toLowerCase());
    if (a && verdict.status === 'succeeded') this.accounts.set(id.toLowerCase(), this.afterPatch(a, change));
    return verdict;
  }
}

/** Discovery over the fake account store: every CMK-bound account (or scope), with its scopes, as discovery finds them. */
export class FakeDiscovery implements AccountDiscovery {
  constructor(
    private readonly accounts: FakeAccountStore,
    /** Accounts per page (Resource Graph pages by 1,000). */
    private readonly pageSize = Number.POSITIVE_INFINITY,
  ) {}
  private async all(): Promise<AccountState[]> {
    return Promise.all([...this.accounts.accounts.values()].map(async (a) => ({ ...structuredClone(a), encryptionScopes: await this.accounts.listEncryptionScopes(a.id) })));
  }
  boundTo(key: { vaultUri: string; keyName: string }): AsyncIterable<AccountState[]> {
    return this.pages((a) => bindingsTo(a, key).length > 0);
  }
  cmkAccounts(): AsyncIterable<AccountState[]> {
    return this.pages((a) => cmkBindings(a).length > 0);
  }
  /** At least one page, as discovery answers an empty estate. */
  private async *pages(keep: (a: AccountState) => boolean): AsyncIterable<AccountState[]> {
    const found = (await this.all()).filter(keep);
    for (let start = 0; start === 0 || start < found.length; start += this.pageSize) yield found.slice(start, start + this.pageSize);
  }
}
