import type * as Zod from 'zod';
import { MAX_ACTOR, type DisableCmkJob, type FanOutJob, type RebindJob, type RotationJob, type SweepJob, type SwitchKeyJob } from '../domain/jobs';
import { KEY_NAME, KEY_VERSION } from '../domain/keys';
import { TRIGGERS } from '../domain/model';
import { SCOPE_NAME } from '../domain/scopes';
import { lazy, zod, type ParsesTo } from '../lazy';

// The wire schemas of the messages on "rotation-jobs" (shared/domain/jobs.ts has their types). Validated on
// the way in: a malformed message writes nothing.

/** The schemas of the queue messages, built with zod on first use (see shared/lazy.ts). */
function buildSchemas({ z }: typeof Zod) {
  // Every field is bounded: a queue message holds 64 KB and a Table property 32K characters.
  const origin = {
    jobId: z.string().min(8).max(64).regex(/^[0-9A-Za-z-]+$/),
    trigger: z.enum(TRIGGERS),
    createdAt: z.iso.datetime(),
    eventId: z.string().max(128).optional(),
    eventType: z.string().max(128).optional(),
    actor: z.string().max(MAX_ACTOR).optional(),
    traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/).optional(),
  };
  const key = {
    vaultUri: z.url({ protocol: /^https$/ }).max(512),
    keyName: z.string().regex(KEY_NAME),
  };
  const priorAttempts = z.number().int().min(0).max(1_000).default(0);
  const accountId = z.string().min(1).max(512);

  const fanOutJob = z.strictObject({
    kind: z.literal('fan-out'),
    ...origin,
    ...key,
    targetVersion: z.string().regex(KEY_VERSION).optional(),
    force: z.boolean().default(false),
    action: z.enum(['bind', 'rotate', 'notify', 'expired']).default('bind'),
    eventVersion: z.string().regex(KEY_VERSION).optional(),
    eventExpiresOn: z.iso.datetime().optional(),
    afterClaim: z.boolean().optional(),
  });
  const rebindJob = z.strictObject({
    kind: z.literal('rebind'),
    ...origin,
    ...key,
    parentJobId: z.string().optional(),
    accountId,
    encryptionScope: z.string().regex(SCOPE_NAME).optional(),
    targetVersion: z.string().regex(KEY_VERSION).optional(),
    force: z.boolean().default(false),
    versionNamed: z.boolean().optional(),
    accountNamed: z.boolean().optional(),
    reason: z.string().max(500).optional(),
    priorAttempts,
  });
  const switchKeyJob = z.strictObject({ kind: z.literal('switch-key'), ...origin, ...key, accountId, priorAttempts });
  const disableCmkJob = z.strictObject({ kind: z.literal('disable-cmk'), ...origin, ...key, accountId, priorAttempts });
  const sweepJob = z.strictObject({ kind: z.literal('sweep'), ...origin });

  const rotationJob = z.discriminatedUnion('kind', [fanOutJob, rebindJob, switchKeyJob, disableCmkJob, sweepJob]);
  return { fanOutJob, rebindJob, switchKeyJob, disableCmkJob, sweepJob, rotationJob };
}

const schemas = lazy(() => buildSchemas(zod()));
type Schemas = ReturnType<typeof buildSchemas>;

// The schemas parse to exactly the domain's job types: a field added to one and not the other fails the build.
const agreed: [
  ParsesTo<Schemas['fanOutJob'], FanOutJob>, ParsesTo<Schemas['rebindJob'], RebindJob>, ParsesTo<Schemas['switchKeyJob'], SwitchKeyJob>,
  ParsesTo<Schemas['disableCmkJob'], DisableCmkJob>, ParsesTo<Schemas['sweepJob'], SweepJob>, ParsesTo<Schemas['rotationJob'], RotationJob>,
] = [true, true, true, true, true, true];
void agreed;

/** A message off the queue (JSON text or already parsed) as a job, or what is wrong with it. */
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
