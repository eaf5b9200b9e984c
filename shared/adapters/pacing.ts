import type { PipelinePolicy, PipelineResponse } from '@azure/core-rest-pipeline';
import { setTimeout as sleep } from 'node:timers/promises';
import { retryAfter } from './azureErrors';

interface BucketLimits {
  burst: number;
  perSecond: number;
}

export interface ArmLimits {
  reads: BucketLimits;
  writes: BucketLimits;
}

/** ARM's published limits per subscription and principal (DESIGN §9): a token bucket per operation type. */
export const PUBLIC_ARM_LIMITS: ArmLimits = {
  reads: { burst: 250, perSecond: 25 },
  writes: { burst: 200, perSecond: 10 },
};

type Kind = keyof ArmLimits;

/**
 * The share of ARM's refill rate the pacer assumes. Other callers of the same identity show up in ARM's remaining
 * count, which lowers the bucket on every answer, so the headroom only covers the two clocks drifting apart.
 */
const HEADROOM = 0.95;

interface Bucket {
  tokens: number;
  at: number;
  pausedUntil: number;
}

/**
 * Client-side pacing of ARM calls, shared by every job in the process: one token bucket per subscription and
 * operation type at ARM's own rates, so the service spends its time working rather than collecting 429s. ARM's
 * count of what remains (x-ms-ratelimit-remaining-subscription-*) is shared by every instance of the app (one
 * identity), so a bucket never holds more than ARM says is left; a 429's Retry-After pauses the bucket.
 */
export class ArmPacer {
  private readonly buckets = new Map<string, Bucket>();
  /** How long requests waited here, in all (what pacing cost instead of 429s). */
  waitedMs = 0;

  constructor(
    private readonly limits: ArmLimits = PUBLIC_ARM_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reserves a token of the bucket and resolves when it may be spent. */
  async take(subscription: string, kind: Kind): Promise<void> {
    const bucket = this.refilled(subscription, kind);
    bucket.tokens -= 1;
    const waitMs = Math.max(bucket.tokens < 0 ? (-bucket.tokens / this.rate(kind)) * 1000 : 0, bucket.pausedUntil - this.now());
    if (waitMs > 0) {
      this.waitedMs += waitMs;
      await sleep(waitMs);
    }
  }

  /** What ARM said of the bucket: how much remains, and how long to wait after a 429. */
  observe(subscription: string, kind: Kind, response: PipelineResponse): void {
    const bucket = this.refilled(subscription, kind);
    const remaining = Number(response.headers.get(`x-ms-ratelimit-remaining-subscription-${kind}`));
    if (Number.isFinite(remaining) && remaining < bucket.tokens) bucket.tokens = remaining;
    if (response.status === 429) {
      const waitMs = retryAfter(response.headers) ?? 1_000 / this.rate(kind);
      bucket.pausedUntil = Math.max(bucket.pausedUntil, this.now() + waitMs);
      bucket.tokens = Math.min(bucket.tokens, 0);
    }
  }

  /** The pipeline policy for an ARM client; placed per retry, so that retries spend tokens too. */
  policy(): PipelinePolicy {
    return {
      name: 'cmkRotatorArmPacing',
      sendRequest: async (request, next) => {
        const subscription = /\/subscriptions\/([^/?]+)/i.exec(new URL(request.url).pathname)?.[1]?.toLowerCase() ?? '';
        const kind: Kind = request.method === 'GET' || request.method === 'HEAD' ? 'reads' : 'writes';
        await this.take(subscription, kind);
        const response = await next(request);
        this.observe(subscription, kind, response);
        return response;
      },
    };
  }

  private rate(kind: Kind): number {
    return this.limits[kind].perSecond * HEADROOM;
  }

  private refilled(subscription: string, kind: Kind): Bucket {
    const key = `${kind}:${subscription}`;
    const limits = this.limits[kind];
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: limits.burst, at: now, pausedUntil: 0 };
    bucket.tokens = Math.min(limits.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.rate(kind));
    bucket.at = now;
    this.buckets.set(key, bucket);
    return bucket;
  }
}
