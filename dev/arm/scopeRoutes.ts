import type { Exchange } from './http';
import { parseJsonBody } from './http';
import { resourceId, type ArmRoute } from './paths';
import { listPage, operationLinks, problem, retryAfter, type RouteContext } from './routes';
import { scopeId, scopeNotFound } from './scopeService';

type ScopeRoute = Extract<ArmRoute, { kind: 'encryptionScopes' | 'encryptionScope' }>;

/** accounts/{name}/encryptionScopes[/{scope}]: GET one, LIST (paged), PUT, DELETE, as the REST examples show them. */
export function scopeRoute(context: RouteContext, exchange: Exchange, route: ScopeRoute): void {
  const accountId = resourceId('Microsoft.CognitiveServices/accounts', route.subscription, route.resourceGroup, route.account);
  if (route.kind === 'encryptionScopes') {
    const scopes = context.scopes.list(accountId);
    if (scopes) listPage(context, exchange, scopes);
    else problem(exchange, scopeNotFound(accountId));
    return;
  }
  if (exchange.method === 'GET') {
    const found = context.scopes.read(scopeId(accountId, route.name));
    if (found) exchange.json(200, found);
    else problem(exchange, scopeNotFound(scopeId(accountId, route.name)));
    return;
  }
  if (exchange.method === 'DELETE') {
    const outcome = context.scopes.remove(accountId, route.name);
    if ('problem' in outcome) return problem(exchange, outcome.problem);
    if ('done' in outcome) return exchange.json(204);
    // As recorded: 202 with a lower-case azure-asyncoperation header and no body.
    return exchange.json(202, undefined, { 'azure-asyncoperation': operationLinks(context, exchange, outcome.operation).status, ...retryAfter(context) });
  }
  const outcome = context.scopes.put(accountId, route.name, parseJsonBody(exchange.body));
  if ('problem' in outcome) return problem(exchange, outcome.problem);
  if ('resource' in outcome) return exchange.json(outcome.created ? 201 : 200, outcome.resource);
  const links = operationLinks(context, exchange, outcome.operation);
  exchange.json(202, outcome.accepted, { 'Azure-AsyncOperation': links.status, Location: links.result, ...retryAfter(context) });
}
