export interface RetryPolicy {
  /** First wait before a retry; doubles per attempt, with jitter, up to maxMs (a Retry-After wins). */
  baseMs: number;
  maxMs: number;
  /** Attempts in all, the queue's re-deliveries and the job's own re-queues together. */
  maxAttempts: number;
}

/** Exponential back-off with full jitter over the upper half, and the service's Retry-After when it sent one. */
export function backoff(attempt: number, policy: RetryPolicy, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = ceiling / 2 + Math.random() * (ceiling / 2);
  return Math.max(jittered, retryAfterMs ?? 0);
}
