import { HttpRequest, InvocationContext, type HttpFunctionOptions, type HttpResponseInit } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { reply } from './eventGridWebhook';
import { text as readText } from 'node:stream/consumers';
import type { LogHandler } from './invocations';

interface Route {
  name: string;
  options: HttpFunctionOptions;
  pattern: RegExp;
  params: string[];
}

/** Compiles "rotations/{jobId}" into a matcher under /api, as the host's routePrefix does. */
export function compileRoutes(http: Map<string, HttpFunctionOptions>): Route[] {
  return [...http].map(([name, options]) => {
    const params: string[] = [];
    const source = (options.route ?? name)
      .split('/')
      .map((segment) => {
        const m = /^\{(\w+)(?::[^}]*)?\??\}$/.exec(segment);
        if (!m?.[1]) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        params.push(m[1]);
        return '([^/]+)';
      })
      .join('/');
    return { name, options, params, pattern: new RegExp(`^/api/${source}/?$`, 'i') };
  });
}

/**
 * The host's HTTP trigger: route and method matching, function-key auth (x-functions-key header
 * or code query) for any authLevel but anonymous (what @azure/functions registers when none is given), and the handler's HttpResponseInit written back.
 */
export async function serveHttp(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  routes: Route[],
  functionKey: string,
  logHandler: (functionName: string, invocationId: string) => LogHandler,
): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const candidates = routes.filter((r) => r.pattern.test(url.pathname));
  if (!candidates.length) return reply(res, 404, undefined);
  const route = candidates.find((r) => (r.options.methods ?? ['GET', 'POST']).includes(method as never));
  if (!route) return reply(res, 405, undefined);
  // @azure/functions registers a route without authLevel as anonymous (and without methods as GET and POST).
  if ((route.options.authLevel ?? 'anonymous') !== 'anonymous') {
    const key = req.headers['x-functions-key'] ?? url.searchParams.get('code');
    if (key !== functionKey) return reply(res, 401, undefined);
  }

  const match = route.pattern.exec(url.pathname);
  const params = Object.fromEntries(route.params.map((p, i) => [p, decoded(match?.[i + 1] ?? '')]));
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
  const body = await readText(req);
  const request = new HttpRequest({ method, url: url.toString(), headers, params, body: { string: body } });
  const invocationId = randomUUID();
  const context = new InvocationContext({ invocationId, functionName: route.name, logHandler: logHandler(route.name, invocationId) });
  const result = (await route.options.handler(request, context)) as HttpResponseInit | undefined;
  const responseHeaders = new Headers(result?.headers as ConstructorParameters<typeof Headers>[0]);
  let text: string | undefined;
  if (result?.jsonBody !== undefined) {
    text = JSON.stringify(result.jsonBody);
    if (!responseHeaders.has('content-type')) responseHeaders.set('content-type', 'application/json');
  } else if (typeof result?.body === 'string') {
    text = result.body;
  }
  res.writeHead(result?.status ?? 200, Object.fromEntries(responseHeaders));
  res.end(text);
}

/** A route value as the host's router gives it: percent-decoded, or left as written where an escape is malformed. */
function decoded(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
