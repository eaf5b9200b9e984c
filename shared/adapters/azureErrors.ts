import type { PipelineResponse, RestError } from '@azure/core-rest-pipeline';
import { DependencyError, type Dependency } from '../errors';
import { RefusedRequest } from './sameOrigin';

// The one place Azure's errors are read: every adapter turns them into the domain's DependencyError, classified
// here by status AND error code; nothing past the adapters inspects an SDK error.

/** Error codes that mean "busy right now", whatever their status: the same request later can succeed. */
const BUSY_CODES = new Set(['AccountProvisioningStateInvalid', 'Conflict', 'AnotherOperationInProgress']);

/** What the SDKs put on a RestError's `details` (Tables' single-entity errors carry the code only there). */
interface ErrorDetails {
  errorCode?: string;
  error?: { code?: string };
}

/**
 * core-rest-pipeline's own isRestError test (an Error named RestError: every SDK's copy of the class passes it),
 * written here so that building the adapters at start-up does not load the pipeline (40-80 ms) before a call needs it.
 */
function isRestError(error: unknown): error is RestError {
  return error instanceof Error && error.name === 'RestError';
}

/** A failure of Azure itself: a RestError (every SDK shares core-rest-pipeline's), or Entra ID refusing a token. */
function azureFailure(error: unknown): { statusCode?: number; code?: string; details?: unknown; response?: { headers?: PipelineResponse['headers'] } } | undefined {
  if (isRestError(error)) return error;
  // @azure/identity's AuthenticationError is not a RestError but carries the token endpoint's status.
  const e = error as { name?: unknown; statusCode?: unknown } | undefined;
  if (error instanceof Error && e?.name === 'AuthenticationError' && typeof e.statusCode === 'number') return error as Error & { statusCode: number };
  return undefined;
}

/** The status of an Azure error; undefined for a lost connection, and for anything that is not an Azure error. */
export function statusOf(error: unknown): number | undefined {
  return azureFailure(error)?.statusCode;
}

/**
 * Narrows an Azure error to a DependencyError; anything else (a bug, a TypeError) is rethrown as it is.
 * A refused or reset connection is a RestError with a code (ECONNREFUSED, ECONNRESET) and no status: retryable.
 */
export function toDependencyError(error: unknown, what: string, dependency?: Dependency): DependencyError {
  // A request the same-origin policy refused is named by the operation it belonged to, once.
  if (error instanceof RefusedRequest) return new DependencyError(error.code, `${what}: ${error.message}`, { retryable: false, ...(error.dependency ? { dependency: error.dependency } : {}) });
  if (error instanceof DependencyError) return error;
  const failure = azureFailure(error);
  if (!failure) throw error;
  const status = failure.statusCode;
  const details = failure.details as ErrorDetails | undefined;
  const code = details?.errorCode ?? details?.error?.code ?? failure.code ?? (status ? `http-${status}` : 'network-error');
  return dependencyError(code, `${what}: ${(error as Error).message || code}`, status, failure.response?.headers, dependency);
}

/** An Azure error as a DependencyError, except a 404, which says the thing is not there: `absent` stands for it. */
export function notFoundAs<F>(absent: F, error: unknown, what: string, dependency: Dependency): F {
  const e = toDependencyError(error, what, dependency);
  if (e.statusCode === 404) return absent;
  throw e;
}

/** A 4xx/5xx answer to a request sent through a pipeline by hand (ARM operations, Managed HSM RBAC) as a DependencyError. */
export function responseError(response: PipelineResponse, what: string, dependency: Dependency, answered: string): DependencyError {
  let parsed: { error?: { code?: unknown; message?: unknown } } | undefined;
  try {
    parsed = JSON.parse(response.bodyAsText ?? '') as typeof parsed;
  } catch {
    parsed = undefined;
  }
  const code = typeof parsed?.error?.code === 'string' ? parsed.error.code : `http-${response.status}`;
  const message = typeof parsed?.error?.message === 'string' ? parsed.error.message : `${answered} ${response.status}`;
  return dependencyError(code, `${what}: ${message}`, response.status, response.headers, dependency);
}

function dependencyError(code: string, message: string, status: number | undefined, headers: PipelineResponse['headers'] | undefined, dependency: Dependency | undefined): DependencyError {
  const retryAfterMs = retryAfter(headers);
  return new DependencyError(code, message, {
    ...classify(status, code),
    ...(status !== undefined ? { statusCode: status } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(dependency ? { dependency } : {}),
  });
}

/** The one classification: status and error code together. No status: the connection was lost, try again. */
function classify(status: number | undefined, code: string): { retryable: boolean; notApplied?: boolean } {
  if (status === undefined) return { retryable: true };
  if (status === 429 || status === 408) return { retryable: true, notApplied: status === 429 };
  if (status >= 500) return { retryable: true };
  if (status === 409 || BUSY_CODES.has(code)) return { retryable: true, notApplied: true };
  return { retryable: false, notApplied: status >= 400 };
}

/** Retry-After in seconds or as an HTTP date, or retry-after-ms / x-ms-retry-after-ms, as milliseconds. */
export function retryAfter(headers: { get(name: string): string | undefined } | undefined): number | undefined {
  if (!headers) return undefined;
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const ms = Number(headers.get(name));
    if (headers.get(name) !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  }
  const value = headers.get('retry-after');
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
