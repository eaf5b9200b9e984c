import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { text } from 'node:stream/consumers';
import type { Found, Page, VaultState } from './vault';
import { VaultError, badParameter, type Wire } from './wire';
import { parseCreate, parsePatch, parsePolicy } from './requests';
import type { FaultInjector } from '../faults';
import type { HsmRbac } from './rbac';

export interface RequestRecord {
  method: string;
  /** Path without the query string, as sent (e.g. `/keys/k1/`). */
  path: string;
  status: number;
  apiVersion?: string;
  authorized: boolean;
  /** When it was answered (epoch ms). */
  at: number;
}

interface HttpContext {
  state: VaultState;
  wire: Wire;
  vaultUri: () => string;
  vaultName: string;
  tenantId: string;
  location: string;
  pageSize: number;
  latencyMs: number;
  requests: RequestRecord[];
  faults: FaultInjector;
  /** Every page that has items is preceded by an empty page that still carries nextLink. */
  emptyPages: boolean;
  /** Where nextLinks point instead of the vault (a service sending its client to another host). */
  nextLinkBase?: string;
  /** The token audience the 401 challenge names: https://vault.azure.net, or https://managedhsm.azure.net for an HSM. */
  challengeResource: string;
  /** A Managed HSM's local RBAC routes (a vault has none). */
  rbac?: HsmRbac;
  /** Called for each version created over HTTP; `sent` resolves once the response has gone out. */
  onNewVersion(found: Found, sent: Promise<void>): void;
}

interface Outcome {
  status: number;
  body: unknown;
  created?: Found;
}

const MAX_PAGE = 25;

/** The request handler of one stand-in vault: auth challenge, api-version, routes, Key Vault errors. */
export function createKeyVaultHandler(ctx: HttpContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void handle(ctx, req, res).catch((err: unknown) => {
      const body = new VaultError(500, 'InternalServerError', err instanceof Error ? err.message : String(err)).toBody();
      if (!res.headersSent) send(res, 500, body, {});
      else res.destroy();
    });
  };
}

async function handle(ctx: HttpContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const raw = await text(req);
  if (ctx.latencyMs > 0) await new Promise((r) => setTimeout(r, ctx.latencyMs));
  const url = new URL(req.url ?? '/', ctx.vaultUri());
  const method = req.method ?? 'GET';
  const apiVersion = url.searchParams.get('api-version') ?? undefined;
  const authorized = /^Bearer\s+\S+/i.test(req.headers.authorization ?? '');
  const headers: Record<string, string> = {
    'x-ms-request-id': randomUUID(),
    'x-ms-keyvault-region': ctx.location,
    'x-ms-keyvault-service-version': 'stand-in',
  };
  const clientRequestId = req.headers['x-ms-client-request-id'];
  if (typeof clientRequestId === 'string') headers['x-ms-client-request-id'] = clientRequestId;

  let outcome: Outcome;
  const fault = authorized ? ctx.faults.hit(method, url.pathname) : undefined;
  // A fault "after the service" lets the vault act first: what it made stays made, and only the answer is lost.
  const answered = fault?.afterService ? undefined : fault;
  if (answered?.reset) {
    ctx.requests.push({ method, path: url.pathname, status: 0, apiVersion, authorized, at: Date.now() });
    req.socket.destroy();
    return;
  }
  if (answered) {
    outcome = injected(answered, method, url, headers);
  } else if (!authorized) {
    // The SDK's first request carries no token and no body; this challenge tells it where to get one.
    headers['WWW-Authenticate'] = `Bearer authorization="https://login.microsoftonline.com/${ctx.tenantId}", resource="${ctx.challengeResource}"`;
    outcome = fail(new VaultError(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.'));
  } else if (!apiVersion) {
    outcome = fail(badParameter("The 'api-version' query parameter is missing or empty."));
  } else {
    try {
      outcome = route(ctx, method, url, apiVersion, parseJson(raw));
    } catch (err) {
      if (!(err instanceof VaultError)) throw err;
      outcome = fail(err);
    }
  }

  if (fault?.afterService) {
    // Key Vault publishes the new version's event whether or not its answer arrived.
    if (outcome.created) ctx.onNewVersion(outcome.created, Promise.resolve());
    ctx.requests.push({ method, path: url.pathname, status: fault.reset ? 0 : fault.status, apiVersion, authorized, at: Date.now() });
    if (fault.reset) {
      req.socket.destroy();
      return;
    }
    outcome = injected(fault, method, url, headers);
    send(res, outcome.status, outcome.body, headers);
    return;
  }
  ctx.requests.push({ method, path: url.pathname, status: outcome.status, apiVersion, authorized, at: Date.now() });
  if (outcome.created) {
    const sent = new Promise<void>((resolve) => {
      res.once('finish', resolve);
      res.once('close', resolve);
    });
    ctx.onNewVersion(outcome.created, sent);
  }
  send(res, outcome.status, outcome.body, headers);
}

/** The injected fault's answer, with Retry-After when it has one. */
function injected(fault: { status: number; code: string; retryAfterMs?: number }, method: string, url: URL, headers: Record<string, string>): Outcome {
  if (fault.retryAfterMs !== undefined) {
    headers['Retry-After'] = String(Math.max(1, Math.ceil(fault.retryAfterMs / 1000)));
    headers['retry-after-ms'] = String(Math.max(1, Math.ceil(fault.retryAfterMs)));
  }
  return fail(new VaultError(fault.status, fault.code, `Injected fault ${fault.code} (${fault.status}) for ${method} ${url.pathname}.`));
}

function route(ctx: HttpContext, method: string, url: URL, apiVersion: string, body: unknown): Outcome {
  const rbac = ctx.rbac?.route(method, url);
  if (rbac && ctx.nextLinkBase) return { ...rbac, body: { ...(rbac.body as object), nextLink: new URL(`${url.pathname.slice(1)}${url.search}`, ctx.nextLinkBase).toString() } };
  if (rbac) return rbac;
  const segments = url.pathname.split('/').slice(1);
  if (segments[0] !== 'keys' || segments.length > 3) throw routeNotFound();
  const name = segments[1] ? decodeSegment(segments[1]) : '';
  const action = segments[2] ?? '';

  if (!name) {
    if (segments.length > 2) throw routeNotFound();
    allow(method, 'GET');
    const page = ctx.state.keysPage(marker(url), pageSize(ctx, url));
    return ok(listBody(ctx, page, (f) => ctx.wire.item(f.entry, f.v, false), url, 'keys', apiVersion));
  }
  if (method === 'GET' && ctx.state.isDenied(name)) throw forbidden(ctx, action);

  switch (action) {
    case 'create': {
      allow(method, 'POST');
      const found = ctx.state.addVersion(name, parseCreate(body));
      return { ...ok(ctx.wire.bundle(found.entry, found.v)), created: found };
    }
    case 'rotate': {
      allow(method, 'POST');
      const found = ctx.state.rotate(name);
      return { ...ok(ctx.wire.bundle(found.entry, found.v)), created: found };
    }
    case 'versions': {
      allow(method, 'GET');
      // Recorded: the versions of a key that does not exist are an empty list, not a 404.
      if (!ctx.state.exists(name)) return ok({ value: [], nextLink: null });
      const page = ctx.state.versionsPage(name, marker(url), pageSize(ctx, url));
      const entryName = ctx.state.entry(name).name;
      return ok(listBody(ctx, page, (f) => ctx.wire.item(f.entry, f.v, true), url, `keys/${entryName}/versions`, apiVersion));
    }
    case 'rotationpolicy': {
      allow(method, 'GET', 'PUT');
      const entry = method === 'PUT'
        ? ctx.state.setPolicy(name, parsePolicy(body))
        : ctx.state.entry(name);
      return ok(ctx.wire.rotationPolicy(entry, entry.policy));
    }
    default: {
      // '' is the current version: GET /keys/{name} and /keys/{name}/ both answer it.
      allow(method, 'GET', 'PATCH');
      const found = method === 'PATCH'
        ? ctx.state.update(name, action, parsePatch(body))
        : ctx.state.find(name, action);
      return ok(ctx.wire.bundle(found.entry, found.v));
    }
  }
}

function listBody(
  ctx: HttpContext, page: Page<Found>, render: (f: Found) => object, url: URL, path: string, apiVersion: string,
): object {
  const link = (marker: string, gap: boolean): string => {
    const token = Buffer.from(JSON.stringify({ NextMarker: marker, TargetLocation: 0, ...(gap ? { Gap: 1 } : {}) })).toString('base64url');
    const maxresults = url.searchParams.get('maxresults');
    // Absolute, like the service's own links, so the SDK follows it as given.
    return `${ctx.nextLinkBase ?? ctx.vaultUri()}${path}?api-version=${encodeURIComponent(apiVersion)}&$skiptoken=${token}`
      + (maxresults ? `&maxresults=${encodeURIComponent(maxresults)}` : '');
  };
  const first = page.items[0];
  if (ctx.emptyPages && first && !gapServed(url)) return { value: [], nextLink: link(page.start ?? '', true) };
  if (page.nextMarker === undefined) return { value: page.items.map(render), nextLink: null };
  return { value: page.items.map(render), nextLink: link(page.nextMarker, false) };
}

/** The empty page in front of this one was already answered (its link says so). */
function gapServed(url: URL): boolean {
  const token = url.searchParams.get('$skiptoken');
  if (!token) return false;
  try {
    return (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { Gap?: unknown }).Gap === 1;
  } catch {
    return false;
  }
}

function marker(url: URL): string | undefined {
  const token = url.searchParams.get('$skiptoken');
  if (!token) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { NextMarker?: unknown };
    if (typeof parsed.NextMarker === 'string') return parsed.NextMarker;
  } catch {
    // falls through to the BadParameter below
  }
  throw badParameter('The continuation token ($skiptoken) is not valid.');
}

function pageSize(ctx: HttpContext, url: URL): number {
  const given = url.searchParams.get('maxresults');
  if (given === null) return ctx.pageSize;
  const n = Number(given);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) {
    throw badParameter(`The value '${given}' of parameter 'maxresults' must be an integer between 1 and ${MAX_PAGE}.`);
  }
  return n;
}

function forbidden(ctx: HttpContext, action: string): VaultError {
  const permission = action === 'versions' ? 'list' : action === 'rotationpolicy' ? 'getrotationpolicy' : 'get';
  return new VaultError(
    403,
    'Forbidden',
    `The user, group or application 'appid=00000000-0000-0000-0000-000000000001;oid=00000000-0000-0000-0000-000000000002;iss=https://sts.windows.net/${ctx.tenantId}/' does not have keys ${permission} permission on key vault '${ctx.vaultName};location=${ctx.location}'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287`,
    'AccessDenied',
  );
}

function allow(method: string, ...methods: string[]): void {
  if (!methods.includes(method)) {
    throw new VaultError(405, 'MethodNotAllowed', `The requested resource does not support http method '${method}'.`);
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badParameter(`The request URI contains an invalid name: ${segment}`);
  }
}

function routeNotFound(): VaultError {
  return new VaultError(404, 'NotFound', 'The requested URI does not represent any resource on the server.');
}

function ok(body: unknown): Outcome {
  return { status: 200, body };
}

function fail(err: VaultError): Outcome {
  return { status: err.status, body: err.toBody() };
}

function parseJson(raw: string): unknown {
  if (raw.trim() === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw badParameter('The request body is not valid JSON.');
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(json),
    'Cache-Control': 'no-cache',
  });
  res.end(json);
}
