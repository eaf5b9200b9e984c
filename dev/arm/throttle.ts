export interface BucketLimits {
  burst: number;
  perSecond: number;
}

export interface ThrottleOptions {
  /** Refill runs this many times faster and Retry-After shrinks by the same factor (for tests). */
  timeScale?: number;
  reads?: BucketLimits;
  writes?: BucketLimits;
}

type RequestKind = 'reads' | 'writes';

/** Public-cloud ARM limits per subscription and principal (token bucket). */
export const publicCloudLimits: Record<RequestKind, BucketLimits> = {
  reads: { burst: 250, perSecond: 25 },
  writes: { burst: 200, perSecond: 10 },
};

type TakeResult =
  | { allowed: true; remaining: number }
  | { allowed: false; remaining: 0; retryAfterMs: number };

interface Bucket {
  tokens: number;
  refilledAt: number;
}

export function requestKind(method: string): RequestKind {
  return method === 'GET' || method === 'HEAD' ? 'reads' : 'writes';
}

/** Token buckets per subscription and request kind, refilled continuously from the clock. */
export class SubscriptionThrottle {
  private readonly buckets = new Map<string, Bucket>();
  private readonly limits: Record<RequestKind, BucketLimits>;
  private readonly timeScale: number;

  constructor(options: ThrottleOptions, private readonly nowMs: () => number) {
    this.limits = {
      reads: options.reads ?? publicCloudLimits.reads,
      writes: options.writes ?? publicCloudLimits.writes,
    };
    this.timeScale = options.timeScale ?? 1;
  }

  take(subscription: string, kind: RequestKind): TakeResult {
    const limits = this.limits[kind];
    const bucket = this.refill(subscription, kind);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, remaining: Math.floor(bucket.tokens) };
    }
    const waitMs = ((1 - bucket.tokens) / (limits.perSecond * this.timeScale)) * 1000;
    return { allowed: false, remaining: 0, retryAfterMs: waitMs };
  }

  private refill(subscription: string, kind: RequestKind): Bucket {
    const limits = this.limits[kind];
    const key = `${kind}:${subscription.toLowerCase()}`;
    const now = this.nowMs();
    const bucket = this.buckets.get(key) ?? { tokens: limits.burst, refilledAt: now };
    const elapsedSeconds = Math.max(0, now - bucket.refilledAt) / 1000;
    bucket.tokens = Math.min(limits.burst, bucket.tokens + elapsedSeconds * limits.perSecond * this.timeScale);
    bucket.refilledAt = now;
    this.buckets.set(key, bucket);
    return bucket;
  }
}
