import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, isTransient } from './api';
import { CliError, EXIT, type Io } from './io';

export interface WaitFlags {
  wait?: boolean;
  /** Seconds between polls. */
  interval?: string;
  /** Seconds to wait at most. */
  timeout?: string;
}

/** The wait ran out of --timeout (exit 3), and nothing else went wrong. */
export class WaitExpired extends CliError {
  constructor(message: string) {
    super(message, EXIT.incomplete);
    this.name = 'WaitExpired';
  }
}

/** --interval and --timeout, read before anything is sent: a bad value is refused with nothing queued. */
export interface WaitPlan {
  intervalMs: number;
  timeoutMs: number;
}

export function waitPlan(flags: WaitFlags, defaultTimeoutSeconds: number): WaitPlan {
  return { intervalMs: seconds(flags.interval, 2, '--interval') * 1000, timeoutMs: seconds(flags.timeout, defaultTimeoutSeconds, '--timeout') * 1000 };
}

/** The longest wait a timer holds (2^31 ms, 24.8 days), in seconds, rounded down. */
const MAX_SECONDS = 2_000_000;

function seconds(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!value.trim() || !Number.isFinite(n) || n <= 0 || n > MAX_SECONDS) throw new CliError(`${flag}: "${value}" is not a number of seconds (up to ${MAX_SECONDS})`);
  return n;
}

/**
 * Asks `poll` (given the time left, which bounds its request) every interval until it answers, until --timeout.
 * The app's throttling, its 5xx and a request that found no answer are waited out (a line on stderr; Retry-After
 * when the app sends one), as the next poll would be; `expired` says what had not finished when --timeout ran out.
 */
export async function pollUntil<T>(plan: WaitPlan, io: Io, poll: (timeLeftMs: number) => Promise<T | undefined>, expired: () => string): Promise<T> {
  const deadline = Date.now() + plan.timeoutMs;
  for (;;) {
    let pause = plan.intervalMs;
    let failed: CliError | undefined;
    try {
      const done = await poll(Math.max(1, deadline - Date.now()));
      if (done !== undefined) return done;
    } catch (error) {
      if (!isTransient(error)) throw error;
      failed = error;
      io.stderr.write(`${new Date().toISOString().slice(11, 19)} ${error.message}; trying again\n`);
      pause = Math.max(pause, error instanceof ApiError ? error.retryAfterMs ?? 0 : 0);
    }
    const left = deadline - Date.now();
    // The last poll's trouble is what the user needs to hear, more than what had not finished.
    if (left <= 0) throw new WaitExpired(failed ? `${expired()} (the last poll: ${failed.message})` : expired());
    await sleep(Math.min(pause, left));
  }
}
