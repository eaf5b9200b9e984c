import type { HttpHandler, HttpRequest, HttpResponseInit } from '@azure/functions';
import { MAX_ACTOR } from '../domain/jobs';
import { DependencyError, RotatedNotQueuedError } from '../errors';
import { traced } from '../logging';
import type { z } from 'zod';
import type { Refusal, RefusalCode } from '../usecases/refusals';

/** An RFC 9457 problem with a stable `code`; the HTTP edge is the only place that speaks status codes. */
interface Problem {
  status: number;
  code: string;
  title: string;
  detail: string;
  errors?: Array<{ field: string; message: string }>;
  /** Extension members (RFC 9457), e.g. the running sweep's id. */
  extensions?: Record<string, string>;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; problem: Problem };

export function problemResponse(p: Problem): HttpResponseInit {
  const { extensions, ...members } = p;
  return {
    status: p.status,
    headers: { 'Content-Type': 'application/problem+json' },
    body: JSON.stringify({ type: `urn:cmk-rotator:problem:${p.code}`, ...members, ...extensions }),
  };
}

function badRequest(code: string, detail: string, errors?: Problem['errors']): Problem {
  return { status: 400, code, title: 'The request is not valid', detail, ...(errors ? { errors } : {}) };
}

/** Validates a schema, naming each bad field; unknown fields are errors too. */
export function validate<T>(schema: z.ZodType<T>, input: unknown): Parsed<T> {
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  const found = result.error.issues.flatMap((issue) => {
    const at = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => ({ field: named(at ? `${at}.${k}` : k), message: 'is not a known field' }));
    return [{ field: named(at || 'body'), message: issue.message }];
  });
  // Field names come from the caller: the answer names a bounded number of them, each cut to a bounded length.
  const errors = found.slice(0, MAX_ERRORS);
  const more = found.length > errors.length ? `; and ${found.length - errors.length} more` : '';
  return { ok: false, problem: badRequest('invalid-request', `${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}${more}`, errors) };
}

/** A bad request names at most this many fields, each in at most MAX_FIELD characters. */
const MAX_ERRORS = 20;
const MAX_FIELD = 100;
const named = (field: string): string => (field.length > MAX_FIELD ? `${field.slice(0, MAX_FIELD - 1)}…` : field);

/** Reads a JSON object body; malformed JSON is a 400 that names the problem. */
export async function readJsonBody(request: HttpRequest): Promise<Parsed<unknown>> {
  const text = await request.text();
  try {
    return { ok: true, value: text.trim() ? JSON.parse(text) : {} };
  } catch (error) {
    return { ok: false, problem: badRequest('malformed-json', `The body is not valid JSON: ${(error as Error).message}`) };
  }
}

/** The query parameters of the API: `code` is the function key when sent in the query, not an API field. */
export function apiQuery(request: HttpRequest): Parsed<Record<string, string>> {
  const params = new Map<string, string>();
  const repeated = new Set<string>();
  for (const [name, value] of request.query.entries()) {
    if (name === 'code') continue;
    if (params.has(name)) repeated.add(name);
    params.set(name, value);
  }
  // A parameter given twice asks two things at once: neither value is taken for the request.
  if (repeated.size) {
    const errors = [...repeated].slice(0, MAX_ERRORS).map((name) => ({ field: named(name), message: 'is given more than once' }));
    const more = repeated.size > errors.length ? `; and ${repeated.size - errors.length} more` : '';
    return { ok: false, problem: badRequest('invalid-request', `${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}${more}`, errors) };
  }
  return { ok: true, value: Object.fromEntries(params) };
}

/**
 * App Service authentication's principal when it is on (it sets the header and strips a forged
 * one); otherwise the caller proved only the function key, whatever headers it sent.
 */
export function actorOf(request: HttpRequest, config: { trustClientPrincipal: boolean }): string {
  const principal = config.trustClientPrincipal ? request.headers.get('x-ms-client-principal-name')?.trim() : undefined;
  // A name past what a job carries is cut, marked, rather than queue a job no worker would take.
  return principal && principal.length > MAX_ACTOR ? `${principal.slice(0, MAX_ACTOR - 1)}…` : principal || 'function-key';
}

/** Every refusal code has its status: a new code without one does not compile. */
const STATUS_BY_CODE = {
  'account-not-found': 404,
  'job-not-found': 404,
  'pin-not-found': 404,
  'key-version-not-found': 404,
  'no-bound-accounts': 404,
  'scope-not-found': 404,
  'account-not-cmk': 409,
  'scope-not-cmk': 409,
  'key-not-usable': 409,
  'preflight-refused': 409,
  'cmk-disable-unsupported': 409,
  'sweep-running': 409,
  'vault-not-allowed': 400,
  'other-vault': 400,
} as const satisfies Record<RefusalCode, 400 | 404 | 409>;

const TITLES: Record<(typeof STATUS_BY_CODE)[RefusalCode], string> = {
  400: 'The request is not valid',
  404: 'Not found',
  409: 'Conflict with the current state',
};

/** A use case's refusal as a problem: 404 for what does not exist, 409 for a state that forbids it, 400 for a request that may not ask it. */
export function refusalProblem(r: Refusal): Problem {
  const status = STATUS_BY_CODE[r.code];
  return { status, code: r.code, title: TITLES[status], detail: r.detail, ...(r.field ? { errors: [{ field: r.field, message: r.detail }] } : {}) };
}

/**
 * Every route's wrapper: an Azure dependency answering badly becomes a problem too. Table Storage (the
 * service's own state) unavailable: 503 with Retry-After. Azure throttling: 429 with its own wait. Anything
 * else Azure refused or failed: 502. Anything that is not an Azure error is a bug, and rethrown.
 */
export function withProblems(handler: HttpHandler): HttpHandler {
  return (request, context) => traced(context, { name: 'cmk.api', attributes: { 'cmk.function': context.functionName, 'http.request.method': request.method } }, async (log) => {
    try {
      return await handler(request, context);
    } catch (error) {
      if (!(error instanceof DependencyError)) throw error;
      log.event('api.dependency-failed', { function: context.functionName, code: error.code, status: error.statusCode, dependency: error.dependency });
      const { problem, retryAfterSeconds } = dependencyProblem(error);
      const response = problemResponse(problem);
      return retryAfterSeconds === undefined ? response : { ...response, headers: { ...response.headers, 'Retry-After': String(retryAfterSeconds) } };
    }
  });
}

function dependencyProblem(error: DependencyError): { problem: Problem; retryAfterSeconds?: number } {
  const wait = Math.max(1, Math.ceil((error.retryAfterMs ?? 10_000) / 1000));
  // The message names what failed, never more than a line: an input it echoes is already bounded by the schemas.
  const detail = error.message.slice(0, 500);
  // Not "try again": the same request would rotate the key once more. The version made is what to ask for.
  if (error instanceof RotatedNotQueuedError) {
    return { problem: {
      status: 502, code: error.code, title: 'The key was rotated, but its jobs were not all queued',
      detail: `${detail}. Its KeyNewVersionCreated event binds the accounts (a Managed HSM's, the next sweep in enforce mode); to queue them now, ask for keyVersion ${error.keyVersion} without rotateKey (naming it also moves and pins versionless bindings, which the event leaves alone)`,
      extensions: { keyVersion: error.keyVersion },
    } };
  }
  if (error.dependency === 'storage') {
    return { problem: { status: 503, code: 'storage-unavailable', title: "The service's storage is unavailable; try again", detail }, retryAfterSeconds: wait };
  }
  if (error.statusCode === 429) {
    return { problem: { status: 429, code: 'dependency-throttled', title: 'Azure is throttling the service', detail }, retryAfterSeconds: wait };
  }
  return { problem: { status: 502, code: 'dependency-failed', title: 'An Azure dependency failed', detail } };
}
