// Domain errors with stable codes. Azure's errors are classified here, in one place, by status AND error
// code; the edges (handlers, HTTP) map DependencyError, and nothing else inspects SDK errors.

/** Which Azure dependency failed: the HTTP edge answers 503 for storage, 429/502 for the others. */
export type Dependency = 'arm' | 'key-vault' | 'storage' | 'resource-graph';

export interface DependencyFacts {
  /** True when trying again later can help (throttling, 5xx, lost connection, a busy account). */
  retryable: boolean;
  statusCode?: number;
  /** The service answered and refused: the request changed nothing (4xx, 429). Absent when unknown (5xx, reset). */
  notApplied?: boolean;
  /** The service's own wait (Retry-After / retry-after-ms), in milliseconds. */
  retryAfterMs?: number;
  dependency?: Dependency;
}

export class DependencyError extends Error {
  readonly retryable: boolean;
  readonly statusCode?: number;
  readonly notApplied: boolean;
  readonly retryAfterMs?: number;
  readonly dependency?: Dependency;

  constructor(readonly code: string, message: string, facts: DependencyFacts) {
    super(message);
    this.name = 'DependencyError';
    this.retryable = facts.retryable;
    this.notApplied = facts.notApplied ?? false;
    if (facts.statusCode !== undefined) this.statusCode = facts.statusCode;
    if (facts.retryAfterMs !== undefined) this.retryAfterMs = facts.retryAfterMs;
    if (facts.dependency !== undefined) this.dependency = facts.dependency;
  }
}

export class VaultNotAllowedError extends Error {
  readonly code = 'vault-not-allowed';
  constructor(readonly vaultUri: string) {
    super(`vault ${vaultUri} is outside KEY_VAULT_HOST_SUFFIXES`);
    this.name = 'VaultNotAllowedError';
  }
}

/** Error codes that mean "busy right now", whatever their status: the same request later can succeed. */
const BUSY_CODES = new Set(['AccountProvisioningStateInvalid', 'Conflict', 'AnotherOperationInProgress']);

interface RestErrorLike {
  name?: string;
  statusCode?: number;
  code?: string;
  message?: string;
  details?: { errorCode?: string; error?: { code?: string } };
  response?: { headers?: { get(name: string): string | undefined } };
}

/** A RestError (any SDK: they share @azure/core-rest-pipeline's shape) or a failure to reach the service. */
function isAzureError(error: unknown): error is RestErrorLike {
  const e = error as RestErrorLike | undefined;
  return !!e && typeof e === 'object' && (e.name === 'RestError' || typeof e.statusCode === 'number');
}

/** Narrows an Azure SDK error to a DependencyError; anything else (a bug) is rethrown as it is. */
export function toDependencyError(error: unknown, what: string, dependency?: Dependency): DependencyError {
  if (error instanceof DependencyError) return error;
  if (!isAzureError(error)) throw error;
  const status = error.statusCode;
  const code = error.details?.errorCode ?? error.details?.error?.code ?? error.code ?? (status ? `http-${status}` : 'network-error');
  const retryAfterMs = retryAfter(error.response?.headers);
  return new DependencyError(code, `${what}: ${error.message ?? code}`, {
    ...classify(status, code),
    ...(status !== undefined ? { statusCode: status } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(dependency ? { dependency } : {}),
  });
}

/** The one classification: status and error code together. */
export function classify(status: number | undefined, code: string): { retryable: boolean; notApplied?: boolean } {
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
