import type { Account, CognitiveServicesManagementClient, CognitiveServicesManagementClientOptionalParams, EncryptionScope, KeyVaultProperties } from '@azure/arm-cognitiveservices';
import type { PipelineResponse } from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAccountId } from '../domain/accounts';
import type { AccountState, EncryptionScopeState, KeyBinding, KeySource } from '../domain/model';
import { DependencyError } from '../errors';
import { notFoundAs, responseError, retryAfter, toDependencyError } from './azureErrors';
import type { AccountStore, EncryptionChange, UpdateVerdict } from '../ports';
import { OperationDurations } from './operationDurations';
import { confined } from './sameOrigin';
import { armClientOptions, perKey, sdk } from './sdk';

interface CognitiveServicesOptions {
  credential: TokenCredential;
  /** ARM_ENDPOINT: the public cloud, a sovereign cloud, or a local stand-in. */
  endpoint: string;
  /** Wait between status polls when ARM sends no Retry-After (it sends none for these operations); the first poll waits as long as recent updates took. */
  pollMs: number;
  /** Longest one attempt follows an operation; a later attempt reads the account instead. */
  operationTimeoutMs: number;
  clientOptions?: CognitiveServicesManagementClientOptionalParams;
}

/** What a finished operation's answer says of the resource it wrote (the account, or a scope). */
type Result = (response: PipelineResponse) => Omit<Extract<UpdateVerdict, { status: 'succeeded' }>, 'status'>;

const DONE = new Set(['succeeded']);
const FAILED = new Set(['failed', 'canceled', 'cancelled']);

/**
 * AccountStore over @azure/arm-cognitiveservices: one client per subscription, reused. The encryption PATCH
 * and its operation go through the client's own pipeline (credential, retries, TLS), but the operation is
 * followed here, not by @azure/core-lro: its poller reports `failed` for any error while polling (a 429, a
 * 5xx on the final GET), which is not the operation's verdict (DESIGN §9).
 */
export class CognitiveServicesAccountStore implements AccountStore {
  private readonly origin: string;
  private readonly durations: OperationDurations;

  private readonly client = perKey((subscriptionId) => sdk.cognitiveServices().then(({ CognitiveServicesManagementClient }) =>
    confined(new CognitiveServicesManagementClient(this.options.credential, subscriptionId, { ...this.options.clientOptions, ...armClientOptions(this.options.endpoint) }), this.options.endpoint, 'arm')));

  constructor(private readonly options: CognitiveServicesOptions) {
    this.origin = new URL(options.endpoint).origin;
    this.durations = new OperationDurations(options.pollMs);
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
      return notFoundAs(undefined, error, `reading account ${ref.name}`, 'arm');
    }
  }

  async updateEncryption(accountId: string, change: EncryptionChange): Promise<UpdateVerdict> {
    const ref = requireRef(accountId);
    const client = await this.client(ref.subscriptionId);
    const what = `updating encryption of account ${ref.name}`;
    const url = `${this.accountUrl(ref)}?api-version=${client.apiVersion}`;
    const accepted = await this.send(client, 'PATCH', url, what, { properties: { encryption: encryptionBody(change) } });
    return this.outcome(client, accepted, what, accountFrom);
  }

  async listEncryptionScopes(accountId: string): Promise<EncryptionScopeState[]> {
    const ref = requireRef(accountId);
    const scopes: EncryptionScopeState[] = [];
    try {
      for await (const scope of (await this.client(ref.subscriptionId)).encryptionScopes.list(ref.resourceGroup, ref.name)) {
        const state = toScopeState(accountId, scope);
        if (state) scopes.push(state);
      }
    } catch (error) {
      return notFoundAs([], error, `listing the encryption scopes of account ${ref.name}`, 'arm');
    }
    return scopes;
  }

  async getEncryptionScope(accountId: string, name: string): Promise<EncryptionScopeState | undefined> {
    const ref = requireRef(accountId);
    try {
      return toScopeState(accountId, await (await this.client(ref.subscriptionId)).encryptionScopes.get(ref.resourceGroup, ref.name, name));
    } catch (error) {
      return notFoundAs(undefined, error, `reading encryption scope ${name} of account ${ref.name}`, 'arm');
    }
  }

  /**
   * A scope's PUT replaces it whole, so the scope is read first and sent back as it was but for its key settings.
   * The recorded PUT answers 200 with the scope; a 202 with polling headers is followed like an account update.
   */
  async updateEncryptionScope(accountId: string, name: string, change: EncryptionChange): Promise<UpdateVerdict> {
    const ref = requireRef(accountId);
    const client = await this.client(ref.subscriptionId);
    const what = `updating encryption scope ${name} of account ${ref.name}`;
    const url = `${this.accountUrl(ref)}/encryptionScopes/${encodeURIComponent(name)}?api-version=${client.apiVersion}`;
    const current = (json(await this.send(client, 'GET', url, `${what}: reading it`)) ?? {}) as { tags?: unknown; properties?: Record<string, unknown> };
    const { provisioningState: _state, keyVaultProperties: _key, ...kept } = current.properties ?? {};
    const body = { ...(current.tags ? { tags: current.tags } : {}), properties: { ...kept, ...encryptionBody(change) } };
    const answer = await this.send(client, 'PUT', url, what, body);
    return this.outcome(client, answer, what, (response) => scopeFrom(accountId, response));
  }

  private accountUrl(ref: { subscriptionId: string; resourceGroup: string; name: string }): string {
    return `${this.origin}/subscriptions/${encodeURIComponent(ref.subscriptionId)}/resourceGroups/${encodeURIComponent(ref.resourceGroup)}`
      + `/providers/Microsoft.CognitiveServices/accounts/${encodeURIComponent(ref.name)}`;
  }

  /** A write's first answer: done (no polling headers, the body is the resource), or an operation followed to its end. */
  private outcome(client: CognitiveServicesManagementClient, first: PipelineResponse, what: string, result: Result): Promise<UpdateVerdict> {
    const status = first.headers.get('azure-asyncoperation');
    const location = first.headers.get('location');
    if (!status && !location) return Promise.resolve({ status: 'succeeded', ...result(first) });
    const operation = status ? { statusUrl: status, resultUrl: location } : { locationUrl: location ?? '' };
    return this.follow(client, operation, retryAfter(first.headers), what, result);
  }

  /** Polls the operation until it ends, through throttling, 5xx and resets; the verdict is the operation's status. */
  private async follow(
    client: CognitiveServicesManagementClient,
    operation: { statusUrl: string; resultUrl: string | undefined } | { locationUrl: string },
    firstWaitMs: number | undefined,
    what: string,
    result: Result,
  ): Promise<UpdateVerdict> {
    const pollUrl = 'statusUrl' in operation ? operation.statusUrl : operation.locationUrl;
    const began = Date.now();
    const deadline = began + this.options.operationTimeoutMs;
    let waitMs = firstWaitMs ?? this.durations.firstWait();
    for (let failures = 0, polls = 0; ; ) {
      await sleep(waitMs);
      const sentAt = Date.now();
      polls += 1;
      // Ended by the time this poll was sent: how long updates take here, for the next one's first wait.
      const ended = (): void => this.durations.observe(sentAt - began, polls === 1);
      if (sentAt > deadline) {
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
        if (answer.status !== 202) {
          ended();
          return { status: 'succeeded', ...result(answer) };
        }
        waitMs = retryAfter(answer.headers) ?? this.options.pollMs;
        continue;
      }
      const body = json(answer) as { status?: unknown; error?: { code?: unknown; message?: unknown } } | undefined;
      const state = String(body?.status ?? '').toLowerCase();
      if (DONE.has(state) || FAILED.has(state)) ended();
      if (DONE.has(state)) return { status: 'succeeded', ...(operation.resultUrl ? await this.finalResult(client, operation.resultUrl, what, result) : {}) };
      if (FAILED.has(state)) {
        return { status: 'failed', code: String(body?.error?.code ?? body?.status), message: String(body?.error?.message ?? `the operation ended ${String(body?.status)}`) };
      }
      waitMs = retryAfter(answer.headers) ?? this.options.pollMs;
    }
  }

  /** The Location answer once the operation succeeded: the resource when ARM shows it (no second GET), else nothing. */
  private async finalResult(client: CognitiveServicesManagementClient, url: string, what: string, result: Result): Promise<ReturnType<Result>> {
    try {
      return result(await this.send(client, 'GET', url, `${what}: reading its result`));
    } catch (error) {
      toDependencyError(error, what, 'arm');
      return {};
    }
  }

  /** One request through the client's pipeline (which refuses any URL off ARM_ENDPOINT); a 4xx/5xx becomes a DependencyError. */
  private async send(client: CognitiveServicesManagementClient, method: 'GET' | 'PATCH' | 'PUT', url: string, what: string, body?: object): Promise<PipelineResponse> {
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
    throw responseError(response, what, 'arm', 'ARM answered');
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

/** An answer whose body is the scope. */
function scopeFrom(accountId: string, response: PipelineResponse): { scope?: EncryptionScopeState } {
  const scope = toScopeState(accountId, (json(response) ?? {}) as EncryptionScope);
  return scope ? { scope } : {};
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
  const binding = bindingOf(encryption?.keySource, encryption?.keyVaultProperties);
  if (binding) state.binding = binding;
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

/** Maps an accounts/encryptionScopes resource: its own key source and binding, as an account's are mapped. */
function toScopeState(accountId: string, scope: EncryptionScope): EncryptionScopeState | undefined {
  if (!scope.id || !scope.name) return undefined;
  const state: EncryptionScopeState = { id: scope.id, accountId, name: scope.name };
  const p = scope.properties;
  if (p?.provisioningState) state.provisioningState = p.provisioningState;
  if (p?.state) state.state = p.state;
  if (p?.keySource) state.keySource = p.keySource as KeySource;
  const binding = bindingOf(p?.keySource, p?.keyVaultProperties);
  if (binding) state.binding = binding;
  return state;
}

/** keyVersion is optional in the API: empty or absent is a versionless binding ("latest"), kept as '' (DESIGN §2a). */
function bindingOf(keySource: string | undefined, kv: KeyVaultProperties | undefined): KeyBinding | undefined {
  if (keySource !== 'Microsoft.KeyVault' || !kv?.keyVaultUri || !kv.keyName) return undefined;
  return { vaultUri: kv.keyVaultUri, keyName: kv.keyName, keyVersion: kv.keyVersion ?? '', ...(kv.identityClientId ? { identityClientId: kv.identityClientId } : {}) };
}
