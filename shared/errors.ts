// Domain errors with stable codes; the edges (handlers, HTTP) map them, nothing else inspects SDK errors.

export class DependencyError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** True when trying again later can help (throttling, 5xx, lost connection, conflicts). */
    readonly retryable: boolean,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'DependencyError';
  }
}

export class VaultNotAllowedError extends Error {
  readonly code = 'vault-not-allowed';
  constructor(readonly vaultUri: string) {
    super(`vault ${vaultUri} is outside KEY_VAULT_HOST_SUFFIXES`);
    this.name = 'VaultNotAllowedError';
  }
}

/** Narrows an Azure SDK RestError (or a network failure) to a DependencyError; rethrows anything else. */
export function toDependencyError(error: unknown, what: string): DependencyError {
  if (error instanceof DependencyError) return error;
  const e = error as { name?: string; statusCode?: number; code?: string; details?: { errorCode?: string }; message?: string };
  if (e && (e.name === 'RestError' || typeof e.statusCode === 'number')) {
    const status = e.statusCode;
    const code = e.details?.errorCode ?? e.code ?? (status ? `http-${status}` : 'network-error');
    const retryable = status === undefined || status === 408 || status === 409 || status === 429 || status >= 500;
    return new DependencyError(code, `${what}: ${e.message ?? code}`, retryable, status);
  }
  throw error;
}
