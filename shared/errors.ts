// Domain errors with stable codes, free of any SDK: the adapters turn Azure's errors into DependencyError
// (shared/adapters/azureErrors.ts); use cases and the edges (handlers, HTTP) see only these.

/** Which Azure dependency failed: the HTTP edge answers 503 for storage, 429/502 for the others. */
export type Dependency = 'arm' | 'key-vault' | 'storage' | 'resource-graph';

interface DependencyFacts {
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

/**
 * A key was rotated at a person's request and then its jobs could not all be queued. Not to be retried as it was
 * asked: a second rotation would make another version. The version made names what to ask for instead.
 */
export class RotatedNotQueuedError extends DependencyError {
  constructor(readonly keyName: string, readonly keyVersion: string, cause: DependencyError) {
    super('rotated-not-queued', `key ${keyName} was rotated to version ${keyVersion}, but its jobs could not all be queued: ${cause.message}`, {
      retryable: false, ...(cause.dependency ? { dependency: cause.dependency } : {}),
    });
    this.name = 'RotatedNotQueuedError';
  }
}

export class VaultNotAllowedError extends Error {
  readonly code = 'vault-not-allowed';
  constructor(readonly vaultUri: string) {
    super(`vault ${vaultUri} is outside KEY_VAULT_HOST_SUFFIXES`);
    this.name = 'VaultNotAllowedError';
  }
}

/** The error as a DependencyError (what every adapter throws for Azure's failures); anything else, a bug, is rethrown as it is. */
export function asDependencyError(error: unknown): DependencyError {
  if (error instanceof DependencyError) return error;
  throw error;
}

/** The error when it is a DependencyError, else undefined. */
export function dependencyErrorOrUndefined(error: unknown): DependencyError | undefined {
  return error instanceof DependencyError ? error : undefined;
}

/** A dependency failure's one-line reason (`code: message`); a bug goes up as it is. */
export function failureReason(error: unknown): string {
  const e = asDependencyError(error);
  return `${e.code}: ${e.message}`;
}
