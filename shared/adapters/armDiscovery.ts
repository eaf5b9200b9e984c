import { sameKey } from '../domain/keys';
import type { AccountState } from '../domain/model';
import type { AccountSource, AccountStore } from '../ports';

const PAGE = 100;

/**
 * DISCOVERY=arm: lists every account of every SUBSCRIPTION_IDS subscription through ARM (the subscriptions in
 * parallel) and keeps those the caller asks for. Costs a list page per 100 accounts per call; for when
 * Resource Graph is not available to the identity.
 */
export class ArmAccounts implements AccountSource {
  /** Each subscription once, however often (and in whichever case) the setting names it: an account is listed once. */
  private readonly subscriptionIds: readonly string[];

  constructor(
    private readonly accounts: Pick<AccountStore, 'listAccounts'>,
    subscriptionIds: readonly string[],
  ) {
    this.subscriptionIds = [...new Map(subscriptionIds.map((id) => [id.toLowerCase(), id])).values()];
  }

  boundTo(key: { vaultUri: string; keyName: string }): AsyncIterable<AccountState[]> {
    return this.pages((a) => isCmk(a) && !!a.binding && sameKey(a.binding, key));
  }

  cmkAccounts(): AsyncIterable<AccountState[]> {
    return this.pages(isCmk);
  }

  allAccounts(): AsyncIterable<AccountState[]> {
    return this.pages(() => true);
  }

  private async *pages(keep: (account: AccountState) => boolean): AsyncIterable<AccountState[]> {
    const lists = this.subscriptionIds.map((id) => this.collect(id, keep));
    // A subscription that failed must not leave the others' listings unobserved.
    for (const list of lists) list.catch(() => undefined);
    for (const list of lists) {
      const accounts = await list;
      for (let i = 0; i < accounts.length; i += PAGE) yield accounts.slice(i, i + PAGE);
    }
  }

  private async collect(subscriptionId: string, keep: (account: AccountState) => boolean): Promise<AccountState[]> {
    const listed: AccountState[] = [];
    for await (const account of this.accounts.listAccounts(subscriptionId)) if (keep(account)) listed.push(account);
    return listed;
  }
}

const isCmk = (a: AccountState): boolean => a.keySource === 'Microsoft.KeyVault' && !!a.binding;
