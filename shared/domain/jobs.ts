import type * as Zod from 'zod';
import { lazy, zod } from '../lazy';
import type { RotationRecord, RotationStatus } from './model';
import { SCOPE_NAME } from './scopes';

// Queue messages on "rotation-jobs". Validated on the way in: a malformed message writes nothing.

const HEX32 = /^[0-9a-f]{32}$/i;

/** The schemas of the queue messages, built with zod on first use (see shared/lazy.ts). */
function buildSchemas({ z }: typeof Zod) {
  const trigger = z.enum(['event', 'sweep', 'manual']);
  // Every field is bounded: a queue message holds 64 KB and a Table property 32K characters.
  const origin = {
    jobId: z.string().min(8).max(64).regex(/^[0-9A-Za-z-]+$/),
    trigger,
    createdAt: z.iso.datetime(),
    eventId: z.string().max(128).optional(),
    eventType: z.string().max(128).optional(),
    actor: z.string().max(256).optional(),
    /** W3C trace context of what queued the job (the queue adapter stamps it when telemetry is on). */
    traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/).optional(),
  };
  const key = {
    vaultUri: z.url({ protocol: /^https$/ }).max(512),
    keyName: z.string().regex(/^[0-9a-zA-Z-]{1,127}$/),
  };
  /** Attempts made before this message (a job re-queued by its own retry carries its count; the queue's dequeueCount restarts). */
  const priorAttempts = z.number().int().min(0).max(1_000).default(0);

  /** One per event: finds every account bound to the key and enqueues a rebind job for each. */
  const fanOutJob = z.strictObject({
    kind: z.literal('fan-out'),
    ...origin,
    ...key,
    /** A version to bind, or absent for "the newest usable version". */
    targetVersion: z.string().regex(HEX32).optional(),
    force: z.boolean().default(false),
    /** bind: queue rebinds; rotate: create a version first unless a newer usable one exists; notify / expired: findings only. */
    action: z.enum(['bind', 'rotate', 'notify', 'expired']).default('bind'),
    /** The version an expiry event is about. */
    eventVersion: z.string().regex(HEX32).optional(),
  });

  /** One per account: the rebind rules run here, under the account's lease. */
  const rebindJob = z.strictObject({
    kind: z.literal('rebind'),
    ...origin,
    ...key,
    parentJobId: z.string().optional(),
    accountId: z.string().min(1).max(512),
    /** One of the account's encryption scopes, rebound under the account's lease; absent: the account's own binding. */
    encryptionScope: z.string().regex(SCOPE_NAME).optional(),
    targetVersion: z.string().regex(HEX32).optional(),
    force: z.boolean().default(false),
    /** A person named targetVersion (not "the newest", not a rotation): only that pins a versionless binding (§2a). */
    versionNamed: z.boolean().optional(),
    /** A person's why, kept with the pin a forced rebind sets (e.g. "v7 breaks fine-tuning"). */
    reason: z.string().max(500).optional(),
    priorAttempts,
  });

  /** A person moves an account to another key in the same vault (newest usable version). */
  const switchKeyJob = z.strictObject({
    kind: z.literal('switch-key'),
    ...origin,
    ...key,
    accountId: z.string().min(1).max(512),
    priorAttempts,
  });

  /** A person moves an account back to Microsoft-managed keys. */
  const disableCmkJob = z.strictObject({
    kind: z.literal('disable-cmk'),
    ...origin,
    ...key,
    accountId: z.string().min(1).max(512),
    priorAttempts,
  });

  /** A sweep asked for over HTTP; its id was returned to the caller and holds the sweep lock. */
  const sweepJob = z.strictObject({
    kind: z.literal('sweep'),
    ...origin,
  });

  const rotationJob = z.discriminatedUnion('kind', [fanOutJob, rebindJob, switchKeyJob, disableCmkJob, sweepJob]);
  return { fanOutJob, rebindJob, switchKeyJob, disableCmkJob, sweepJob, rotationJob };
}

const schemas = lazy(() => buildSchemas(zod()));
type Schemas = ReturnType<typeof buildSchemas>;

export type FanOutJob = Zod.infer<Schemas['fanOutJob']>;
export type RebindJob = Zod.infer<Schemas['rebindJob']>;
export type SwitchKeyJob = Zod.infer<Schemas['switchKeyJob']>;
export type DisableCmkJob = Zod.infer<Schemas['disableCmkJob']>;
export type SweepJob = Zod.infer<Schemas['sweepJob']>;
/** Jobs that change one account under its lease. */
export type AccountJob = RebindJob | SwitchKeyJob | DisableCmkJob;
export type RotationJob = Zod.infer<Schemas['rotationJob']>;

export function parseJob(message: unknown): { ok: true; job: RotationJob } | { ok: false; problem: string } {
  const result = schemas().rotationJob.safeParse(typeof message === 'string' ? safeJson(message) : message);
  if (result.success) return { ok: true, job: result.data };
  const problem = result.error.issues
    .map((i) => `${i.path.length ? i.path.join('.') : 'message'}: ${i.message}`)
    .join('; ');
  return { ok: false, problem };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The encryption scope a job is about; undefined for the account's own binding. */
export function scopeOf(job: AccountJob): string | undefined {
  return 'encryptionScope' in job ? job.encryptionScope : undefined;
}

/** A job's ledger row as far as the job itself says: the queued row and the start of each attempt. */
export function ledgerRow(job: AccountJob, status: RotationStatus, attempt: number): RotationRecord {
  return {
    jobId: job.jobId,
    accountId: job.accountId,
    trigger: job.trigger,
    vaultUri: job.vaultUri,
    keyName: job.keyName,
    status,
    attempt,
    queuedAt: job.createdAt,
    ...('targetVersion' in job && job.targetVersion ? { toVersion: job.targetVersion } : {}),
    ...(scopeOf(job) ? { encryptionScope: scopeOf(job) } : {}),
    ...(job.eventId ? { eventId: job.eventId } : {}),
    ...(job.eventType ? { eventType: job.eventType } : {}),
    ...(job.actor ? { actor: job.actor } : {}),
  };
}
