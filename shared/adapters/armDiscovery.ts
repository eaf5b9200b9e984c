import type { AccountState } from '../domain/model';
import { bindingsTo, cmkBindings } from '../domain/scopes';
import type { AccountDiscovery, AccountStore } from '../ports';
import { withScopes } from './scopeDiscovery';

const PAGE = 100;

/**
 * DISCOVERY=arm: lists every account of every SUBSCRIPTION_IDS subscription through ARM (the subscriptions in
 * parallel) and keeps those bound to a Key Vault key. Costs a list page per 100 accounts per call; for when
 * Resource Graph is not available to the identity.
 */
export class ArmDiscovery implements AccountDiscovery {
  constructor(
    private readonly accounts: Pick<AccountStore, 'listAccounts' | 'listEncryptionScopes'>,
    private readonly subscriptionIds: readonly string[],
  ) {}

  boundTo(key: { vaultUri: string; keyName: string }): AsyncIterable<AccountState[]> {
    return this.pages((a) => bindingsTo(a, key).length > 0);
  }

  cmkAccounts(): AsyncIterable<AccountState[]> {
    return this.pages((a) => cmkBindings(a).length > 0);
  }

  private async *pages(keep: (account: AccountState) => boolean): AsyncIterable<AccountState[]> {
    const lists = this.subscriptionIds.map((id) => this.collect(id, keep));
    for (const list of lists) {
      const accounts = await list;
      for (let i = 0; i < accounts.length; i += PAGE) yield accounts.slice(i, i + PAGE);
    }
  }

  private async collect(subscriptionId: string, keep: (account: AccountState) => boolean): Promise<AccountState[]> {
    const listed: AccountState[] = [];
    for await (const account of this.accounts.listAccounts(subscriptionId)) listed.push(account);
    // Each account's encryption scopes too: one more ARM read per account.
    return (await withScopes(listed, this.accounts)).filter(keep);
  }
}
