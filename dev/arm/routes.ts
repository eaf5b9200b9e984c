import { notFound, type AccountService, type AsyncOperation, type ResourceStore } from './accountService';
import type { ArmProblem } from './accountBody';
import { deepCopy, parseJsonBody, type Exchange, type JsonObject } from './http';
import { parseResourceId, resourceId, type ArmRoute } from './paths';

export interface RouteContext {
  /** The stand-in's base URL with a trailing slash; ARM's nextLink and polling URLs are absolute. */
  baseUrl: string;
  pageSize: number;
  accounts: AccountService;
  vaults: ResourceStore;
}

const allowed: Record<ArmRoute['kind'], string[]> = {
  accountsInSubscription: ['GET'],
  accountsInResourceGroup: ['GET'],
  account: ['GET', 'PATCH', 'PUT'],
  operationStatus: ['GET'],
  operationResult: ['GET'],
  vault: ['GET'],
  vaultsInSubscription: ['GET'],
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
    case 'operationStatus':
      return operationStatus(context, exchange, context.accounts.poll(route.operationId, route.subscription));
    case 'operationResult':
      return operationResult(context, exchange, context.accounts.poll(route.operationId, route.subscription));
    case 'vault': {
      const id = resourceId('Microsoft.KeyVault/vaults', route.subscription, route.resourceGroup, route.name);
      const vault = context.vaults.get(id);
      if (vault) exchange.json(200, deepCopy(vault));
      else problem(exchange, notFound(id));
      return;
    }
    case 'vaultsInSubscription':
      return listPage(context, exchange, vaultsIn(context.vaults, route.subscription));
  }
}

/** Vaults of one subscription; ARM compares subscription ids without case. */
function vaultsIn(vaults: ResourceStore, subscription: string): JsonObject[] {
  const wanted = subscription.toLowerCase();
  return vaults.values().filter((vault) => {
    const parts = parseResourceId(String(vault['id']), 'Microsoft.KeyVault/vaults');
    return parts.subscription.toLowerCase() === wanted;
  });
}

function problem(exchange: Exchange, answer: ArmProblem): void {
  exchange.error(answer.status, answer.code, answer.message);
}

/** One page of a list; the absolute nextLink carries the offset as $skiptoken. */
function listPage(context: RouteContext, exchange: Exchange, items: JsonObject[]): void {
  const token = exchange.url.searchParams.get('$skiptoken') ?? '0';
  const skip = Number(token);
  if (!Number.isInteger(skip) || skip < 0) {
    exchange.error(400, 'InvalidSkipToken', `The $skiptoken '${token}' is not valid.`);
    return;
  }
  const end = skip + context.pageSize;
  const body: JsonObject = { value: items.slice(skip, end).map((item) => deepCopy(item)) };
  if (end < items.length) {
    const next = new URL(exchange.url.pathname.replace(/^\//, ''), context.baseUrl);
    next.searchParams.set('api-version', exchange.apiVersion ?? '');
    next.searchParams.set('$skiptoken', String(end));
    body['nextLink'] = next.toString();
  }
  exchange.json(200, body);
}

function account(context: RouteContext, exchange: Exchange, id: string, name: string): void {
  if (exchange.method === 'GET') {
    const found = context.accounts.store.get(id);
    if (found) exchange.json(200, deepCopy(found));
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
  const outcome = context.accounts.beginUpdate(id, body);
  if ('problem' in outcome) {
    problem(exchange, outcome.problem);
    return;
  }
  const links = operationLinks(context, exchange, outcome.operation);
  exchange.json(202, outcome.accepted, {
    'Azure-AsyncOperation': links.status,
    Location: links.result,
    'Retry-After': '0',
  });
}

interface OperationLinks {
  status: string;
  result: string;
}

function operationLinks(context: RouteContext, exchange: Exchange, operation: AsyncOperation): OperationLinks {
  const provider = `providers/Microsoft.CognitiveServices/locations/${operation.location}`;
  const base = `${context.baseUrl}subscriptions/${operation.subscription}/${provider}`;
  const query = `?api-version=${encodeURIComponent(exchange.apiVersion ?? '')}`;
  return {
    status: `${base}/operationStatuses/${operation.id}${query}`,
    result: `${base}/operationResults/${operation.id}${query}`,
  };
}

function operationStatus(context: RouteContext, exchange: Exchange, operation: AsyncOperation | undefined): void {
  if (!operation) return operationNotFound(exchange);
  const body: JsonObject = {
    id: new URL(operationLinks(context, exchange, operation).status).pathname,
    name: operation.id,
    status: operation.status,
    startTime: operation.startTime,
  };
  if (operation.endTime) body['endTime'] = operation.endTime;
  if (operation.error) body['error'] = { ...operation.error };
  exchange.json(200, body);
}

function operationNotFound(exchange: Exchange): void {
  const operationId = exchange.url.pathname.split('/').pop() ?? '';
  exchange.error(404, 'OperationNotFound', `The operation '${operationId}' was not found.`);
}

/** The Location URL: 202 while running, then the updated account (the SDK's final result). */
function operationResult(context: RouteContext, exchange: Exchange, operation: AsyncOperation | undefined): void {
  if (!operation) return operationNotFound(exchange);
  if (operation.status === 'InProgress') {
    const headers = { Location: operationLinks(context, exchange, operation).result, 'Retry-After': '0' };
    exchange.json(202, undefined, headers);
    return;
  }
  if (operation.status === 'Failed') {
    const error = operation.error ?? { code: 'Failed', message: 'The operation failed.' };
    exchange.error(400, error.code, error.message);
    return;
  }
  const updated = context.accounts.current(operation);
  if (updated) exchange.json(200, updated);
  else exchange.json(204);
}
