import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenHttps } from './tls';
import { AccountService, type OperationError, type PatchRecord } from './arm/accountService';
import type { MmkEncryption } from './arm/accountBody';
import { ResourceStore } from './arm/resourceStore';
import { Authorization, type AuthorizationRead } from './arm/authorization';
import { FaultInjector, type FaultRule } from './faults';
import { deepCopy, delay, Exchange, isJsonObject, retryAfterHeaders, type JsonObject } from './arm/http';
import { text } from 'node:stream/consumers';
import { parseArmPath, parseResourceId, resourceKey, subscriptionOf } from './arm/paths';
import { ResourceGraph } from './arm/resourceGraph';
import { handleRoute, type RouteContext } from './arm/routes';
import { ScopeService, type ScopeWrite } from './arm/scopeService';
import { requestKind, SubscriptionThrottle, type ThrottleOptions } from './arm/throttle';

export type { FaultRule } from './faults';
export type { PatchRecord } from './arm/accountService';
export type { ScopeWrite } from './arm/scopeService';
export type { BucketLimits, ThrottleOptions } from './arm/throttle';
export { publicCloudLimits } from './arm/throttle';

export interface ArmStandInOptions {
  /** Delay before each answer. */
  latencyMs?: number;
  /** List page size (default 100); further pages are reached through an absolute nextLink. */
  pageSize?: number;
  /** Every page with items is preceded by an empty page that still carries nextLink (ARM does this). */
  emptyPages?: boolean;
  /** Lists' nextLinks point at this base URL instead of the stand-in's own, as a service sending its client elsewhere would. */
  nextLinkBase?: string;
  /** How long an update operation runs (default 30 ms); operations advance with the clock, not with polls. */
  operationMs?: number;
  /** After an update ends, GETs still report Accepted for this long (recorded lag; default 0). */
  settleLagMs?: number;
  /** Retry-After seconds on PATCH and polling answers; the recorded service sends none (default). */
  retryAfterSeconds?: number;
  /** 'async' (default): 202 with Azure-AsyncOperation and Location; 'sync': 200 with the account and no polling headers. */
  updateAnswer?: 'async' | 'sync';
  /** What the operation's Location URL answers once done: the account (default), an empty 200, or 204. */
  finalResult?: 'account' | 'empty' | 'no-content';
  /** Encryption scope PUT: 'sync' (default, as the examples: 200/201 with the scope) or 'async' (202 + polling headers, like an account update). */
  scopePutAnswer?: 'sync' | 'async';
  /** Encryption scope DELETE: 'async' (default, as the examples: 202 with azure-asyncoperation) or 'sync' (204). */
  scopeDeleteAnswer?: 'async' | 'sync';
  /** Token buckets per subscription (default: public-cloud limits); false turns throttling off. */
  throttle?: ThrottleOptions | false;
  /** Clock for operation times, etags and token refill. */
  now?: () => Date;
  /** Random source of probabilistic faults (seed it to repeat a run). */
  random?: () => number;
  /** Tenant reported on system-assigned identities of accounts created with PUT. */
  tenantId?: string;
  /** Called with each request as it is answered (e.g. to stop a worker right after its PATCH). */
  onAnswer?: (record: ArmRequestRecord) => void;
  /**
   * Resource Graph: queries per quota window (default 15 per 5 s), its lag behind ARM, management groups, paging
   * (default on), Retry-After on its 429s (default on), the subscriptions a management group query may span (default 10,000).
   */
  graph?: {
    quota?: number; windowMs?: number; lagMs?: number; managementGroups?: Record<string, string[]>; paging?: boolean; retryAfter?: boolean; subscriptionLimit?: number;
  };
  /**
   * Kinds whose accounts refuse a PATCH from keySource Microsoft.KeyVault to Microsoft.CognitiveServices (default
   * ['AIServices'], DESIGN §9), answered 400 BadRequest in ARM's error envelope. No recording of that answer exists;
   * the status and code are a plausible choice, not a recorded one.
   */
  cmkDisableRefusedKinds?: string[];
  /** After a switch to Microsoft-managed keys: `kept` (default, recorded) keeps encryption {keySource: Microsoft.CognitiveServices}; `absent` drops it. */
  mmkEncryption?: MmkEncryption;
}

export interface ArmRequestRecord {
  method: string;
  /** Request path without the query string, as sent. */
  path: string;
  /** Answered status; 0 when the connection was reset. */
  status: number;
  userAgent: string;
  /** When it was answered (epoch ms). */
  at: number;
}

export interface ArmStandIn {
  /** https://127.0.0.1:<port>/ */
  url: string;
  /** The PEM its clients must trust. */
  ca: string;
  /** Seeds (or replaces) a Microsoft.CognitiveServices/accounts resource; `id` is required. */
  putAccount(resource: object): void;
  /** The stored account JSON (a copy), or undefined; untyped so that tests can read any ARM path. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  account(id: string): any | undefined;
  /** Every account held, as stored. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  accounts(): any[];
  /** Seeds (or replaces) an accounts/encryptionScopes resource of a seeded account; `id` is required. */
  putScope(resource: object): void;
  /** The stored scope JSON as a GET shows it (a copy), or undefined. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  scope(id: string): any | undefined;
  /** Every PUT of an encryption scope with the key version it asked for, whatever its answer. */
  scopeWrites: ScopeWrite[];
  /** Seeds (or replaces) a Microsoft.KeyVault/vaults resource; `id` is required. */
  putVault(resource: object): void;
  /** The stored vault JSON (a copy), or undefined. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  vault(id: string): any | undefined;
  /** Seeds (or replaces) a Microsoft.KeyVault/managedHSMs resource; `id` is required. */
  putManagedHsm(resource: object): void;
  /** Seeds a Microsoft.Authorization/roleAssignments resource as the examples show it. */
  putRoleAssignment(resource: object): void;
  /** Assigns a role (name or GUID) to a principal at a scope; returns the assignment resource. */
  assignRole(principalId: string, role: string, scope: string): object;
  /** Seeds a Microsoft.Authorization/roleDefinitions resource (its `name` is the GUID). */
  putRoleDefinition(resource: object): void;
  /** A custom role (wildcards and notDataActions allowed); returns its GUID. */
  defineRole(roleName: string, dataActions: string[], notDataActions?: string[]): string;
  /** Reads of role assignments or definitions answer 403 AuthorizationFailed naming the missing action. */
  denyAuthorizationRead(what: AuthorizationRead, denied?: boolean): void;
  /** Seeds any other resource that only Resource Graph serves (for its contract). */
  putGraphResource(resource: object): void;
  /** Resource Graph queries answered (quota refusals excluded). */
  graphQueries(): number;
  /** Injects a fault for matching requests (an ARM error answer, or a connection reset). */
  fail(rule: FaultRule): void;
  /** Drops every injected fault not yet used up. */
  clearFaults(): void;
  /** The next update of that account ends with status Failed and changes nothing but provisioningState. */
  failLro(accountId: string, error: OperationError): void;
  /** Every request in arrival order of its answer. */
  requests: ArmRequestRecord[];
  /** Every PATCH of an account with the key version it asked for, in arrival order. */
  patches: PatchRecord[];
  /** Every update that took effect (its operation succeeded), in order. */
  applied: ReadonlyArray<Omit<PatchRecord, 'status'>>;
  /** Requests answered by each injected fault kind ("429", "503", "reset", ...). */
  faultHits: ReadonlyMap<string, number>;
  /** PATCH requests sent to that account, whatever their answer. */
  patchCount(accountId: string): number;
  close(): Promise<void>;
}

/** Starts an HTTPS stand-in for the ARM calls cmk-rotator makes (Cognitive Services accounts, Key Vault vaults). */
export async function startArmStandIn(options: ArmStandInOptions = {}): Promise<ArmStandIn> {
  const now = options.now ?? (() => new Date());
  const accounts = new AccountService({
    operationMs: options.operationMs ?? 30,
    settleLagMs: options.settleLagMs ?? 0,
    now,
    tenantId: options.tenantId ?? '00000000-0000-0000-0000-00000000a11e',
    cmkDisableRefusedKinds: options.cmkDisableRefusedKinds ?? ['AIServices'],
    mmkEncryption: options.mmkEncryption ?? 'kept',
  });
  const scopes = new ScopeService(accounts, {
    operationMs: options.operationMs ?? 30, now, putAnswer: options.scopePutAnswer ?? 'sync', deleteAnswer: options.scopeDeleteAnswer ?? 'async',
  });
  const vaults = new ResourceStore();
  const managedHsms = new ResourceStore();
  const authorization = new Authorization(options.graph?.managementGroups ?? {});
  const graphOnly = new ResourceStore();
  const graph = new ResourceGraph({
    quota: options.graph?.quota ?? 15,
    windowMs: options.graph?.windowMs ?? 5_000,
    lagMs: options.graph?.lagMs ?? 0,
    managementGroups: options.graph?.managementGroups ?? {},
    paging: options.graph?.paging ?? true,
    retryAfter: options.graph?.retryAfter ?? true,
    subscriptionLimit: options.graph?.subscriptionLimit ?? 10_000,
    now: () => now().getTime(),
  }, () => ({ version: `${accounts.store.version}.${graphOnly.version}`, accounts: accounts.snapshot(), others: graphOnly.values() }));
  const faults = new FaultInjector(options.random);
  const throttle =
    options.throttle === false ? undefined : new SubscriptionThrottle(options.throttle ?? {}, () => now().getTime());
  const requests: ArmRequestRecord[] = [];
  const context: RouteContext = {
    baseUrl: '',
    pageSize: options.pageSize ?? 100,
    accounts,
    scopes,
    vaults,
    managedHsms,
    authorization,
    graph,
    updateAnswer: options.updateAnswer ?? 'async',
    finalResult: options.finalResult ?? 'account',
    emptyPages: options.emptyPages ?? false,
    ...(options.nextLinkBase !== undefined ? { nextLinkBase: options.nextLinkBase } : {}),
    ...(options.retryAfterSeconds !== undefined ? { retryAfterSeconds: options.retryAfterSeconds } : {}),
  };

  const answer = async (exchange: Exchange): Promise<void> => {
    if (options.latencyMs) await delay(options.latencyMs);
    if (!/^Bearer\s+\S+/i.test(exchange.req.headers.authorization ?? '')) {
      exchange.error(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.", {
        'WWW-Authenticate':
          'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The authentication failed because of missing \'Authorization\' header."',
      });
      return;
    }
    if (!exchange.apiVersion) {
      const message = 'The api-version query parameter (?api-version=) is required for all requests.';
      exchange.error(400, 'MissingApiVersionParameter', message);
      return;
    }
    const route = parseArmPath(exchange.url.pathname);
    // Resource Graph has its own per-user quota, not the subscription buckets.
    if (throttle && route?.kind !== 'resourceGraph' && !takeToken(throttle, exchange)) return;
    const fault = faults.hit(exchange.method, exchange.url.pathname);
    if (fault?.reset) return exchange.reset();
    if (fault) {
      const headers = fault.retryAfterMs === undefined ? {} : retryAfterHeaders(fault.retryAfterMs);
      return exchange.error(fault.status, fault.code, `Injected fault ${fault.code} (${fault.status}) for ${exchange.method} ${exchange.url.pathname}.`, headers);
    }
    if (!route) {
      exchange.error(404, 'InvalidResourceType', `The stand-in serves no resource type at '${exchange.url.pathname}'.`);
      return;
    }
    handleRoute(context, exchange, route);
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', context.baseUrl);
    const method = (req.method ?? 'GET').toUpperCase();
    const record = (status: number): void => {
      const entry = { method, path: url.pathname, status, userAgent: String(req.headers['user-agent'] ?? ''), at: Date.now() };
      requests.push(entry);
      options.onAnswer?.(entry);
    };
    void text(req)
      .then((body) => {
        const exchange = new Exchange(req, res, url, body, record);
        return answer(exchange).catch((error: unknown) => {
          const reason = error instanceof Error ? error.message : String(error);
          exchange.error(500, 'InternalServerError', `Stand-in failure: ${reason}`);
        });
      })
      .catch(() => req.socket.destroy());
  };

  const server = await listenHttps(handler);
  context.baseUrl = server.url;

  return {
    url: server.url,
    ca: server.ca,
    requests,
    patches: accounts.patches,
    applied: accounts.applied,
    faultHits: faults.hits,
    putAccount: (resource) => accounts.seed(asResource(resource)),
    account: (id) => accounts.read(id),
    accounts: () => accounts.all(),
    putScope: (resource) => scopes.seed(asResource(resource)),
    scope: (id) => scopes.read(id),
    scopeWrites: scopes.writes,
    putVault: (resource) => {
      const vault = asResource(resource);
      parseResourceId(String(vault['id']), 'Microsoft.KeyVault/vaults');
      vaults.put(deepCopy(vault));
    },
    vault: (id) => {
      const found = vaults.get(id);
      return found && deepCopy(found);
    },
    putManagedHsm: (resource) => {
      const hsm = asResource(resource);
      parseResourceId(String(hsm['id']), 'Microsoft.KeyVault/managedHSMs');
      managedHsms.put(deepCopy(hsm));
    },
    putRoleAssignment: (resource) => authorization.putAssignment(asResource(resource)),
    assignRole: (principalId, role, scope) => authorization.assign(principalId, role, scope),
    putRoleDefinition: (resource) => authorization.putDefinition(asResource(resource)),
    defineRole: (roleName, dataActions, notDataActions) => authorization.defineRole(roleName, dataActions, notDataActions),
    denyAuthorizationRead: (what, denied = true) => void (denied ? authorization.denied.add(what) : authorization.denied.delete(what)),
    putGraphResource: (resource) => graphOnly.put(asResource(resource)),
    graphQueries: () => graph.queries,
    fail: (rule) => {
      if (rule.afterService) throw new Error('afterService is a Key Vault stand-in fault: the ARM stand-in answers its faults before the service acts');
      faults.add(rule);
    },
    clearFaults: () => faults.clear(),
    failLro: (id, error) => accounts.failNextUpdate(id, error),
    patchCount: (id) =>
      requests.filter((r) => r.method === 'PATCH' && resourceKey(decodeURIComponent(r.path)) === resourceKey(id))
        .length,
    close: () => server.close(),
  };
}

/** Spends one token of the request's bucket; an empty bucket is answered with 429 here. */
function takeToken(throttle: SubscriptionThrottle, exchange: Exchange): boolean {
  const kind = requestKind(exchange.method);
  const subscription = subscriptionOf(exchange.url.pathname);
  const taken = throttle.take(subscription, kind);
  exchange.header(`x-ms-ratelimit-remaining-subscription-${kind}`, String(taken.remaining));
  if (taken.allowed) return true;
  const headers = retryAfterHeaders(taken.retryAfterMs);
  exchange.error(
    429,
    'TooManyRequests',
    `Number of '${kind === 'reads' ? 'read' : 'write'}' requests for subscription '${subscription}' exceeded. Please try again after '${headers['Retry-After']}' seconds after additional tokens are available.`,
    headers,
  );
  return false;
}

function asResource(resource: object): JsonObject {
  const copy: unknown = JSON.parse(JSON.stringify(resource));
  if (!isJsonObject(copy) || typeof copy['id'] !== 'string') throw new Error('A resource needs a string id');
  return copy;
}
