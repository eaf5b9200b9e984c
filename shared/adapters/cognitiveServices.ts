import type { Account, CognitiveServicesManagementClient, CognitiveServicesManagementClientOptionalParams } from '@azure/arm-cognitiveservices';
import type { PipelineResponse } from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAccountId } from '../domain/accounts';
import type { AccountState, KeySource } from '../domain/model';
import { classify, DependencyError, retryAfter, toDependencyError } from '../errors';
import type { AccountStore, EncryptionChange, UpdateVerdict } from '../ports';
import { sdk } from './sdk';

export interface CognitiveServicesOptions {
  credential: TokenCredential;
  /** ARM_ENDPOINT: the public cloud, a sovereign cloud, or a local stand-in. */
  endpoint: string;
  /** Wait between status polls when ARM sends no Retry-After (it sends none for these operations). */
  pollMs: number;
  /** Longest one attempt follows an operation; a later attempt reads the account instead. */
  operationTimeoutMs: number;
  clientOptions?: CognitiveServicesManagementClientOptionalParams;
}

const DONE = new Set(['succeeded']);
const FAILED = new Set(['failed', 'canceled', 'cancelled']);

/**
 * AccountStore over @azure/arm-cognitiveservices: one client per subscription, reused. The encryption PATCH
 * and its operation go through the client's own pipeline (credential, retries, TLS), but the operation is
 * followed here, not by @azure/core-lro: its poller reports `failed` for any error while polling (a 429, a
 * 5xx on the final GET), which is not the operation's verdict (DESIGN §9).
 */
export class CognitiveServicesAccountStore implements AccountStore {
  private readonly clients = new Map<string, Promise<CognitiveServicesManagementClient>>();
  private readonly origin: string;

  constructor(private readonly options: CognitiveServicesOptions) {
    this.origin = new URL(options.endpoint).origin;
  }

  async *listAccounts(subscriptionId: string): AsyncIterable<AccountState> {
    try {
      for await (const account of (await this.client(subscriptionId)).accounts.list()) {
        const state = toAccountState(account);
        if (state) yield state;
      }
    } catch (error) {
      throw toDependencyError(error, `listing accounts in subscription ${subscriptionId}`, 'arm');
    }
  }

  async getAccount(accountId: string): Promise<AccountState | undefined> {
    const ref = requireRef(accountId);
    try {
      return toAccountState(await (await this.client(ref.subscriptionId)).accounts.get(ref.resourceGroup, ref.name));
    } catch (error) {
      const e = toDependencyError(error, `reading account ${ref.name}`, 'arm');
      if (e.statusCode === 404) return undefined;
      throw e;
    }
  }

  async updateEncryption(accountId: string, change: EncryptionChange): Promise<UpdateVerdict> {
    const ref = requireRef(accountId);
    const client = await this.client(ref.subscriptionId);
    const what = `updating encryption of account ${ref.name}`;
    const url = `${this.origin}/subscriptions/${encodeURIComponent(ref.subscriptionId)}/resourceGroups/${encodeURIComponent(ref.resourceGroup)}`
      + `/providers/Microsoft.CognitiveServices/accounts/${encodeURIComponent(ref.name)}?api-version=${client.apiVersion}`;
    const accepted = await this.send(client, 'PATCH', url, what, { properties: { encryption: encryptionBody(change) } });
    const status = accepted.headers.get('azure-asyncoperation');
    const location = accepted.headers.get('location');
    // 200 without polling headers: the update is done, and the body is the account.
    if (!status && !location) return { status: 'succeeded', ...accountFrom(accepted) };
    const operation = status ? { statusUrl: status, resultUrl: location } : { locationUrl: location ?? '' };
    return this.follow(client, operation, retryAfter(accepted.headers), what);
  }

  /** Polls the operation until it ends, through throttling, 5xx and resets; the verdict is the operation's status. */
  private async follow(
    client: CognitiveServicesManagementClient,
    operation: { statusUrl: string; resultUrl: string | undefined } | { locationUrl: string },
    firstWaitMs: number | undefined,
    what: string,
  ): Promise<UpdateVerdict> {
    const pollUrl = 'statusUrl' in operation ? operation.statusUrl : operation.locationUrl;
    const deadline = Date.now() + this.options.operationTimeoutMs;
    let waitMs = firstWaitMs ?? this.options.pollMs;
    for (let failures = 0; ; ) {
      await sleep(waitMs);
      if (Date.now() > deadline) {
        throw new DependencyError('operation-still-running', `${what}: the operation had not ended after ${this.options.operationTimeoutMs} ms`, { retryable: true, dependency: 'arm' });
      }
      let answer: PipelineResponse;
      try {
        answer = await this.send(client, 'GET', pollUrl, `${what}: following its operation`);
      } catch (error) {
        const e = toDependencyError(error, `${what}: following its operation`, 'arm');
        // The PATCH was accepted, so a refused poll says nothing of the update: only a read of the account can.
        if (!e.retryable) throw new DependencyError(e.code, e.message, { retryable: false, dependency: 'arm', ...(e.statusCode ? { statusCode: e.statusCode } : {}) });
        failures += 1;
        waitMs = Math.max(e.retryAfterMs ?? 0, Math.min(this.options.pollMs * 2 ** failures, 60_000));
        continue;
      }
      failures = 0;
      // Only a Location to poll: 202 while it runs, then the final result.
      if (!('statusUrl' in operation)) {
        if (answer.status !== 202) return { status: 'succeeded', ...accountFrom(answer) };
        waitMs = retryAfter(answer.headers) ?? this.options.pollMs;
        continue;
      }
      const body = json(answer) as { status?: unknown; error?: { code?: unknown; message?: unknown } } | undefined;
      const state = String(body?.status ?? '').toLowerCase();
      if (DONE.has(state)) return { status: 'succeeded', ...(operation.resultUrl ? await this.finalResult(client, operation.resultUrl, what) : {}) };
      if (FAILED.has(state)) {
        return { status: 'failed', code: String(body?.error?.code ?? body?.status), message: String(body?.error?.message ?? `the operation ended ${String(body?.status)}`) };
      }
      waitMs = retryAfter(answer.headers) ?? this.options.pollMs;
    }
  }

  /** The Location answer once the operation succeeded: the account when ARM shows it (no second GET), else nothing. */
  private async finalResult(client: CognitiveServicesManagementClient, url: string, what: string): Promise<{ account?: AccountState }> {
    try {
      return accountFrom(await this.send(client, 'GET', url, `${what}: reading its result`));
    } catch (error) {
      toDependencyError(error, what, 'arm');
      return {};
    }
  }

  /** One request through the client's pipeline, only to the configured ARM endpoint; a 4xx/5xx becomes a DependencyError. */
  private async send(client: CognitiveServicesManagementClient, method: 'GET' | 'PATCH', url: string, what: string, body?: object): Promise<PipelineResponse> {
    if (new URL(url).origin !== this.origin) {
      throw new DependencyError('untrusted-url', `${what}: ARM pointed at ${new URL(url).origin}, not ${this.origin}`, { retryable: false, dependency: 'arm' });
    }
    let response: PipelineResponse;
    try {
      const { createHttpHeaders, createPipelineRequest } = await sdk.pipeline();
      response = await client.sendRequest(createPipelineRequest({
        url, method,
        headers: createHttpHeaders(body ? { 'content-type': 'application/json' } : {}),
        ...(body ? { body: JSON.stringify(body) } : {}),
      }));
    } catch (error) {
      throw toDependencyError(error, what, 'arm');
    }
    if (response.status < 400) return response;
    const parsed = json(response) as { error?: { code?: unknown; message?: unknown } } | undefined;
    const code = typeof parsed?.error?.code === 'string' ? parsed.error.code : `http-${response.status}`;
    const message = typeof parsed?.error?.message === 'string' ? parsed.error.message : `ARM answered ${response.status}`;
    const wait = retryAfter(response.headers);
    throw new DependencyError(code, `${what}: ${message}`, {
      ...classify(response.status, code), statusCode: response.status, dependency: 'arm', ...(wait !== undefined ? { retryAfterMs: wait } : {}),
    });
  }

  private client(subscriptionId: string): Promise<CognitiveServicesManagementClient> {
    let client = this.clients.get(subscriptionId);
    if (!client) {
      client = sdk.cognitiveServices().then(({ CognitiveServicesManagementClient }) =>
        new CognitiveServicesManagementClient(this.options.credential, subscriptionId, {
          ...this.options.clientOptions,
          endpoint: this.options.endpoint,
          credentialScopes: [`${this.origin}/.default`],
        }));
      this.clients.set(subscriptionId, client);
    }
    return client;
  }
}

function encryptionBody(change: EncryptionChange): object {
  if (change.keySource !== 'Microsoft.KeyVault' || !change.binding) return { keySource: change.keySource };
  const b = change.binding;
  return {
    keySource: change.keySource,
    keyVaultProperties: { keyVaultUri: b.vaultUri, keyName: b.keyName, keyVersion: b.keyVersion, ...(b.identityClientId ? { identityClientId: b.identityClientId } : {}) },
  };
}

function json(response: PipelineResponse): unknown {
  if (!response.bodyAsText) return undefined;
  try {
    return JSON.parse(response.bodyAsText) as unknown;
  } catch {
    return undefined;
  }
}

/** An answer whose body is the account (ARM's final result may be the account, an empty 200 or a 204). */
function accountFrom(response: PipelineResponse): { account?: AccountState } {
  const account = toAccountState((json(response) ?? {}) as Account);
  return account ? { account } : {};
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
    const userAssigned = Object.entries(account.identity.userAssignedIdentities ?? {});
    if (userAssigned.length) {
      state.identity.userAssignedIdentities = Object.fromEntries(userAssigned.map(([resourceId, uai]) => [resourceId, {
        ...(uai?.principalId ? { principalId: uai.principalId } : {}), ...(uai?.clientId ? { clientId: uai.clientId } : {}),
      }]));
    }
  }
  return state;
}
