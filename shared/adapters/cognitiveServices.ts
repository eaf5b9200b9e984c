import { CognitiveServicesManagementClient, type Account, type CognitiveServicesManagementClientOptionalParams } from '@azure/arm-cognitiveservices';
import type { TokenCredential } from '@azure/identity';
import { parseAccountId } from '../domain/accounts';
import type { AccountState, KeySource } from '../domain/model';
import { DependencyError, toDependencyError } from '../errors';
import type { AccountStore, EncryptionChange } from '../ports';

export interface CognitiveServicesOptions {
  credential: TokenCredential;
  /** ARM_ENDPOINT: the public cloud, a sovereign cloud, or a local stand-in. */
  endpoint: string;
  /** How often the PATCH's long-running operation is polled when ARM sends no Retry-After. */
  lroPollMs: number;
  clientOptions?: CognitiveServicesManagementClientOptionalParams;
}

/** AccountStore over @azure/arm-cognitiveservices: one client per subscription, reused. */
export class CognitiveServicesAccountStore implements AccountStore {
  private readonly clients = new Map<string, CognitiveServicesManagementClient>();

  constructor(private readonly options: CognitiveServicesOptions) {}

  async *listAccounts(subscriptionId: string): AsyncIterable<AccountState> {
    try {
      for await (const account of this.client(subscriptionId).accounts.list()) {
        const state = toAccountState(account);
        if (state) yield state;
      }
    } catch (error) {
      throw toDependencyError(error, `listing accounts in subscription ${subscriptionId}`);
    }
  }

  async getAccount(accountId: string): Promise<AccountState | undefined> {
    const ref = requireRef(accountId);
    try {
      return toAccountState(await this.client(ref.subscriptionId).accounts.get(ref.resourceGroup, ref.name));
    } catch (error) {
      const e = toDependencyError(error, `reading account ${ref.name}`);
      if (e.statusCode === 404) return undefined;
      throw e;
    }
  }

  async updateEncryption(accountId: string, change: EncryptionChange): Promise<void> {
    const ref = requireRef(accountId);
    const encryption =
      change.keySource === 'Microsoft.KeyVault' && change.binding
        ? {
            keySource: change.keySource,
            keyVaultProperties: {
              keyVaultUri: change.binding.vaultUri,
              keyName: change.binding.keyName,
              keyVersion: change.binding.keyVersion,
              ...(change.binding.identityClientId ? { identityClientId: change.binding.identityClientId } : {}),
            },
          }
        : { keySource: change.keySource };
    const what = `updating encryption of account ${ref.name}`;
    const poller = await this.client(ref.subscriptionId)
      .accounts.beginUpdate(ref.resourceGroup, ref.name, { properties: { encryption } }, { updateIntervalInMs: this.options.lroPollMs })
      .catch((error: unknown) => {
        throw toDependencyError(error, what);
      });
    try {
      await poller.pollUntilDone();
    } catch (error) {
      // The operation ran and ARM reported it Failed: trying the same PATCH again will not help.
      if (poller.getOperationState().status === 'failed') {
        throw new DependencyError('operation-failed', `${what}: ${(error as Error).message}`, false);
      }
      throw toDependencyError(error, what);
    }
  }

  private client(subscriptionId: string): CognitiveServicesManagementClient {
    let client = this.clients.get(subscriptionId);
    if (!client) {
      client = new CognitiveServicesManagementClient(this.options.credential, subscriptionId, {
        ...this.options.clientOptions,
        endpoint: this.options.endpoint,
        credentialScopes: [`${this.options.endpoint.replace(/\/$/, '')}/.default`],
      });
      this.clients.set(subscriptionId, client);
    }
    return client;
  }
}

function requireRef(accountId: string) {
  const ref = parseAccountId(accountId);
  if (!ref) throw new Error(`not a Microsoft.CognitiveServices/accounts resource id: ${accountId}`);
  return ref;
}

/** Maps the ARM resource; `encryption` absent means Microsoft-managed keys (no default keySource). */
export function toAccountState(account: Account): AccountState | undefined {
  const ref = account.id ? parseAccountId(account.id) : undefined;
  if (!ref) return undefined;
  const state: AccountState = { ...ref, tags: { ...(account.tags ?? {}) } };
  if (account.kind) state.kind = account.kind;
  if (account.location) state.location = account.location;
  const properties = account.properties;
  if (properties?.provisioningState) state.provisioningState = properties.provisioningState;
  const encryption = properties?.encryption;
  if (encryption?.keySource) state.keySource = encryption.keySource as KeySource;
  const kv = encryption?.keyVaultProperties;
  if (encryption?.keySource === 'Microsoft.KeyVault' && kv?.keyVaultUri && kv.keyName && kv.keyVersion !== undefined) {
    state.binding = { vaultUri: kv.keyVaultUri, keyName: kv.keyName, keyVersion: kv.keyVersion };
    if (kv.identityClientId) state.binding.identityClientId = kv.identityClientId;
  }
  if (account.identity?.type) {
    state.identity = { type: account.identity.type };
    if (account.identity.principalId) state.identity.principalId = account.identity.principalId;
    if (account.identity.tenantId) state.identity.tenantId = account.identity.tenantId;
  }
  return state;
}
