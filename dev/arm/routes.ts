import { notFound, type AccountService, type AsyncOperation } from './accountService';
import type { ResourceStore } from './resourceStore';
import type { Authorization } from './authorization';
import type { ResourceGraph } from './resourceGraph';
import type { ArmProblem } from './accountBody';
import { deepCopy, parseJsonBody, type Exchange, type JsonObject } from './http';
import { parseResourceId, resourceId, type ArmRoute } from './paths';
import type { ScopeService } from './scopeService';
import { scopeRoute } from './scopeRoutes';

export interface RouteContext {
  /** The stand-in's base URL with a trailing slash; ARM's nextLink and polling URLs are absolute. */
  baseUrl: string;
  pageSize: number;
  accounts: AccountService;
  scopes: ScopeService;
  vaults: ResourceStore;
  managedHsms: ResourceStore;
  authorization: Authorization;
  graph: ResourceGraph;
  /** How a PATCH is answered: 202 with polling headers, or 200 with the account and none. */
  updateAnswer: 'async' | 'sync';
  /** What the operation's Location URL answers once it succeeded. */
  finalResult: 'account' | 'empty' | 'no-content';
  /** Retry-After (seconds) on PATCH and polling answers; the recorded service sends none. */
  retryAfterSeconds?: number;
  /** Every page that has items is preceded by an empty page that still carries nextLink. */
  emptyPages: boolean;
  /** Where nextLinks point instead of baseUrl (a service sending its client to another host). */
  nextLinkBase?: string;
}

const allowed: Record<ArmRoute['kind'], string[]> = {
  accountsInSubscription: ['GET'],
  accountsInResourceGroup: ['GET'],
  account: ['GET', 'PATCH', 'PUT'],
  encryptionScopes: ['GET'],
  encryptionScope: ['GET', 'PUT', 'DELETE'],
  operationResult: ['GET'],
  vault: ['GET'],
  vaultsInSubscription: ['GET'],
  managedHsm: ['GET'],
  managedHsmsInSubscription: ['GET'],
  roleAssignments: ['GET'],
  roleDefinition: ['GET'],
  resourceGraph: ['POST'],
};

export function handleRoute(context: RouteContext, exchange: Exchange, route: ArmRoute): void {
  if (!allowed[route.kind].includes(exchange.method)) {
    const message = `The stand-in does not implement ${exchange.method} on ${exchange.url.pathname}.`;
    exchange.error(405, 'MethodNotAllowed', message);
    return;
  }
  switch (route.kind) {
    case 'accountsInSubscription':
      return listPage(context, exchange, context.accounts.list(route.subscription));
    case 'accountsInResourceGroup':
      return listPage(context, exchange, context.accounts.list(route.subscription, route.resourceGroup));
    case 'account': {
      const id = resourceId('Microsoft.CognitiveServices/accounts', route.subscription, route.resourceGroup, route.name);
      return account(context, exchange, id, route.name);
    }
    case 'encryptionScopes':
    case 'encryptionScope':
      return scopeRoute(context, exchange, route);
    case 'operationResult': {
      const operation = context.accounts.operation(route.operationId, route.subscription) ?? context.scopes.operation(route.operationId, route.subscription);
      if (!operation) return operationNotFound(exchange);
      const asLocation = exchange.url.searchParams.get('operationResultResponseType')?.toLowerCase() === 'location';
      return asLocation ? operationResult(context, exchange, operation) : operationStatus(context, exchange, operation);
    }
    case 'vault':
    case 'managedHsm': {
      const type = route.kind === 'vault' ? 'Microsoft.KeyVault/vaults' : 'Microsoft.KeyVault/managedHSMs';
      const id = resourceId(type, route.subscription, route.resourceGroup, route.name);
      const vault = (route.kind === 'vault' ? context.vaults : context.managedHsms).get(id);
      if (vault) exchange.json(200, deepCopy(vault));
      else problem(exchange, notFound(id));
      return;
    }
    case 'vaultsInSubscription':
      return listPage(context, exchange, vaultsIn(context.vaults, route.subscription, 'Microsoft.KeyVault/vaults'));
    case 'managedHsmsInSubscription':
      return listPage(context, exchange, vaultsIn(context.managedHsms, route.subscription, 'Microsoft.KeyVault/managedHSMs'));
    case 'roleAssignments': {
      const listed = context.authorization.list(route.scope, exchange.url.searchParams.get('$filter'));
      return 'problem' in listed ? problem(exchange, listed.problem) : listPage(context, exchange, listed.items);
    }
    case 'roleDefinition': {
      const found = context.authorization.definition(route.scope, route.name);
      return 'problem' in found ? problem(exchange, found.problem) : exchange.json(200, found.definition);
    }
    case 'resourceGraph':
      return context.graph.answer(exchange);
  }
}

/** Vaults (or managed HSMs) of one subscription; ARM compares subscription ids without case. */
function vaultsIn(vaults: ResourceStore, subscription: string, type: 'Microsoft.KeyVault/vaults' | 'Microsoft.KeyVault/managedHSMs'): JsonObject[] {
  const wanted = subscription.toLowerCase();
  return vaults.values().filter((vault) => {
    const parts = parseResourceId(String(vault['id']), type);
    return parts.subscription.toLowerCase() === wanted;
  });
}

export function problem(exchange: Exchange, answer: ArmProblem): void {
  exchange.error(answer.status, answer.code, answer.message);
}

interface PageToken {
  offset: number;
  /** The empty page before this offset was served already. */
  gap: boolean;
}

/** $skiptoken is opaque to clients, as ARM's is; this one carries the offset. */
function encodeToken(token: PageToken): string {
  return Buffer.from(JSON.stringify({ o: token.offset, g: token.gap ? 1 : 0 })).toString('base64url');
}

function decodeToken(text: string | null): PageToken | undefined {
  if (text === null) return { offset: 0, gap: false };
  try {
    const parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as { o?: unknown; g?: unknown };
    if (typeof parsed.o === 'number' && Number.isInteger(parsed.o) && parsed.o >= 0) return { offset: parsed.o, gap: parsed.g === 1 };
  } catch {
    // falls through
  }
  return undefined;
}

/** One page of a list; the absolute nextLink carries the query's parameters, an opaque $skiptoken (and, as ARM may, the explicit port). */
export function listPage(context: RouteContext, exchange: Exchange, items: JsonObject[]): void {
  const given = exchange.url.searchParams.get('$skiptoken');
  const token = decodeToken(given);
  if (!token) {
    exchange.error(400, 'InvalidSkipToken', `The $skiptoken '${given ?? ''}' is not valid.`);
    return;
  }
  const next = (t: PageToken): string => {
    // The link continues the same query: its other parameters ($filter) stay, or the offset would count another list.
    const link = new URL(`${exchange.url.pathname.replace(/^\//, '')}${exchange.url.search}`, context.nextLinkBase ?? context.baseUrl);
    link.searchParams.set('api-version', exchange.apiVersion ?? '');
    link.searchParams.set('$skiptoken', encodeToken(t));
    return link.toString();
  };
  if (context.emptyPages && !token.gap && token.offset < items.length) {
    exchange.json(200, { value: [], nextLink: next({ offset: token.offset, gap: true }) });
    return;
  }
  const end = token.offset + context.pageSize;
  const body: JsonObject = { value: items.slice(token.offset, end).map((item) => deepCopy(item)) };
  if (end < items.length) body['nextLink'] = next({ offset: end, gap: false });
  exchange.json(200, body);
}

function account(context: RouteContext, exchange: Exchange, id: string, name: string): void {
  if (exchange.method === 'GET') {
    const found = context.accounts.read(id);
    if (found) exchange.json(200, found);
    else problem(exchange, notFound(id));
    return;
  }
  const body = parseJsonBody(exchange.body);
  if (exchange.method === 'PUT') {
    const outcome = context.accounts.create(id, name, body);
    if ('problem' in outcome) problem(exchange, outcome.problem);
    else exchange.json(outcome.created ? 201 : 200, outcome.resource);
    return;
  }
  const outcome = context.accounts.update(id, body, context.updateAnswer);
  if ('problem' in outcome) return problem(exchange, outcome.problem);
  if ('done' in outcome) return exchange.json(200, outcome.done);
  const links = operationLinks(context, exchange, outcome.operation);
  exchange.json(202, outcome.accepted, {
    'Azure-AsyncOperation': links.status,
    Location: links.result,
    ...retryAfter(context),
  });
}

export function retryAfter(context: RouteContext): Record<string, string> {
  return context.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(context.retryAfterSeconds) };
}

interface OperationLinks {
  status: string;
  result: string;
}

/** As recorded: .../locations/{REGION}/operationResults/{id}, and the same URL with operationResultResponseType=Location. */
export function operationLinks(context: RouteContext, exchange: Exchange, operation: AsyncOperation): OperationLinks {
  const provider = `providers/Microsoft.CognitiveServices/locations/${operation.region}`;
  const status = `${context.baseUrl}subscriptions/${operation.subscription}/${provider}/operationResults/${operation.id}?api-version=${encodeURIComponent(exchange.apiVersion ?? '')}`;
  return { status, result: `${status}&operationResultResponseType=Location` };
}

function operationStatus(context: RouteContext, exchange: Exchange, operation: AsyncOperation): void {
  const body: JsonObject = {
    id: new URL(operationLinks(context, exchange, operation).status).pathname,
    name: operation.id,
    status: operation.status,
    startTime: operation.startTime,
  };
  if (operation.endTime) body['endTime'] = operation.endTime;
  if (operation.error) body['error'] = { ...operation.error };
  const running = operation.status === 'Accepted' || operation.status === 'Updating';
  exchange.json(200, body, running ? retryAfter(context) : {});
}

function operationNotFound(exchange: Exchange): void {
  const operationId = exchange.url.pathname.split('/').pop() ?? '';
  exchange.error(404, 'OperationNotFound', `The operation '${operationId}' was not found.`);
}

/** The Location URL: 202 while running, then the final result (the account, an empty 200 or a 204). */
function operationResult(context: RouteContext, exchange: Exchange, operation: AsyncOperation): void {
  if (operation.status === 'Accepted' || operation.status === 'Updating') {
    exchange.json(202, undefined, { Location: operationLinks(context, exchange, operation).result, ...retryAfter(context) });
    return;
  }
  if (operation.status === 'Failed') {
    const error = operation.error ?? { code: 'Failed', message: 'The operation failed.' };
    exchange.error(400, error.code, error.message);
    return;
  }
  if (operation.deletes || context.finalResult === 'no-content') return exchange.json(204);
  if (context.finalResult === 'empty') return exchange.json(200);
  const updated = operation.scopeKey ? context.scopes.read(operation.scopeKey) : context.accounts.read(operation.accountKey);
  if (updated) exchange.json(200, updated);
  else exchange.json(204);
}
