// Every log event the service writes: one JSON object per event, {"event": <name>, ...fields}. Application Insights
// queries (infra/modules/alerts.bicep, infra/modules/workbook.json), the demo and the tests read these names and
// fields, never message text; test/infra checks that every name and field they read is declared here.

import { definedFields } from '../domain/records';

export type Level = 'info' | 'warn' | 'error';

/** A field's value: a scalar, or counts by name (a sweep's findings by code). */
type FieldValue = string | number | boolean | undefined | Readonly<Record<string, number>>;

interface EventSpec {
  /** How the event is logged; `errorWhen` raises one event to error by a field's value (a failed rotation). */
  level: Level;
  errorWhen?: { field: string; value: string };
  summary: string;
  fields: readonly string[];
}

/** The fields of every account job's events: which job, which binding, which attempt, which versions. */
const JOB = ['jobId', 'parentJobId', 'kind', 'trigger', 'accountId', 'encryptionScope', 'vaultUri', 'keyName', 'attempt', 'status', 'from', 'to', 'reason'] as const;

export const TELEMETRY = {
  'key-event.rejected': { level: 'warn', summary: 'A Key Vault event could not be read: it is acknowledged (2xx, never redelivered) and dropped, with this line naming why', fields: ['problem'] },
  'key-event.ignored': { level: 'info', summary: 'An event that is not about a key version (a secret, a certificate, a policy change)', fields: ['reason', 'eventType'] },
  'key-event.vault-not-allowed': { level: 'warn', summary: 'A key event from a vault outside KEY_VAULT_HOST_SUFFIXES', fields: ['eventId', 'vaultUri'] },
  'key-event.queued': {
    level: 'info', summary: 'A key event became one fan-out job', fields: ['jobId', 'eventId', 'eventType', 'vaultUri', 'keyName', 'version'],
  },
  'fan-out.opted-out': { level: 'info', summary: 'An account carries OPT_OUT_TAG and is left alone', fields: ['jobId', 'accountId', 'tag'] },
  'fan-out.done': {
    level: 'info', summary: 'Every binding to the key was found and one job queued per binding', fields: ['jobId', 'vaultUri', 'keyName', 'action', 'bindings', 'queued'],
  },
  'key.not-rotated': {
    level: 'warn', summary: 'NEAR_EXPIRY_ACTION=rotate did not rotate (reason): the version is younger than NEAR_EXPIRY_DAYS, so a new one would be near expiry too; or the key already has a newer version that is not usable, and a rotation would make another like it; or the version, read again, no longer expires soon (its expiry removed, or moved since the event)',
    fields: ['jobId', 'sweepId', 'accountId', 'keyName', 'version', 'reason'],
  },
  'key.rotated': { level: 'info', summary: 'A key near expiry was rotated (Key Vault made a new version)', fields: ['jobId', 'sweepId', 'keyName', 'expiring', 'version'] },
  'key.rotation-claimed': {
    level: 'info',
    summary: 'A key near expiry was not rotated here: another fan-out or sweep (holder) claimed its rotation; a fan-out runs again after againInSeconds, to bind what the holder made or rotate if it made nothing',
    fields: ['jobId', 'sweepId', 'keyName', 'version', 'holder', 'againInSeconds'],
  },
  'key.rotation-abandoned': {
    level: 'warn',
    summary: 'A fan-out run again after another holder\'s claim found the rotation claimed still: it stops; the key is rotated by an enforce-mode sweep or a person (rotateKey)',
    fields: ['jobId', 'keyName', 'version', 'holder'],
  },
  'key-findings.recorded': { level: 'info', summary: 'An expiry event re-read the key and recorded its findings', fields: ['jobId', 'action', 'keyName', 'accounts'] },
  'finding.critical': {
    level: 'error', summary: 'A binding is broken or about to break (from a sweep, or from an expiry event)',
    fields: ['sweepId', 'jobId', 'accountId', 'accountName', 'encryptionScope', 'code', 'remedy'],
  },
  'sweep.done': {
    level: 'info', errorWhen: { field: 'status', value: 'failed' }, summary: 'A compliance sweep ended (completed, partial or failed), with its counts',
    fields: ['sweepId', 'trigger', 'mode', 'status', 'accounts', 'keys', 'critical', 'warning', 'info', 'findingsByCode', 'remediations', 'errors', 'firstError', 'durationMs'],
  },
  'sweep.key-version': {
    level: 'info', summary: 'How many bindings a sweep found on one key version (versionless bindings: keyVersion "")',
    fields: ['sweepId', 'vaultUri', 'keyName', 'keyVersion', 'accounts'],
  },
  'sweep.skipped': { level: 'warn', summary: 'A sweep did not run because another one holds the lock', fields: ['sweepId', 'runningSweepId'] },
  'sweep.lock-renew-failed': {
    level: 'warn', summary: 'Renewing the sweep lock failed: storage trouble is tried again; a bug stops the renewals and fails the run once it has ended', fields: ['sweepId', 'error'],
  },
  'sweep.lock-lost': {
    level: 'warn', summary: 'The sweep lock expired while the sweep ran (its renewals failed) and another sweep took it; this run stops at its next step, recorded failed', fields: ['sweepId'],
  },
  'sweep.past-due': { level: 'warn', summary: 'The timer fired late (the app was idle or restarting); the sweep runs now', fields: [] },
  'job.malformed': { level: 'error', summary: 'A queue message is not a job; it fails until the host moves it to the poison queue', fields: ['problem'] },
  'job.already-finished': { level: 'info', summary: 'A job delivered again after it ended; nothing to do', fields: ['jobId', 'accountId', 'status'] },
  'job.superseded': {
    level: 'info', summary: 'Another delivery of the same job wrote its row after this one read it: that row stands, and this delivery writes nothing',
    fields: ['jobId', 'accountId', 'attempt', 'status'],
  },
  'rotation.deferred': { level: 'warn', summary: 'An attempt could not finish; the job is re-queued with back-off', fields: [...JOB, 'delayMs'] },
  'rotation.finished': {
    level: 'info', errorWhen: { field: 'status', value: 'failed' },
    summary: 'An account job ended: succeeded, failed, skipped, already-current or refused. bindingLagSeconds: from the key version\'s creation to the account verified on it',
    fields: [...JOB, 'durationMs', 'bindingLagSeconds'],
  },
  'rotation.outcome-unknown': {
    level: 'error', summary: 'A job gave up after sending an update whose outcome it could not read back: a person must look', fields: [...JOB],
  },
  'lease.lost': { level: 'warn', summary: 'The account lease was taken over while an update ran', fields: ['accountId'] },
  'lease.renew-failed': {
    level: 'warn', summary: 'Renewing the account lease failed: storage trouble is tried again; a bug stops the renewals and fails the attempt', fields: ['accountId', 'error'],
  },
  'telemetry.unavailable': { level: 'warn', summary: 'APPLICATIONINSIGHTS_CONNECTION_STRING is set but Azure Monitor did not start; logs still flow', fields: ['error'] },
  'api.dependency-failed': {
    level: 'warn', summary: 'An Azure dependency failed an API request (answered 429, 502 or 503)', fields: ['function', 'code', 'status', 'dependency'],
  },
  'pin.released': { level: 'info', summary: 'A person released a pin', fields: ['accountId', 'encryptionScope', 'keyVersion', 'pinnedBy', 'releasedBy'] },
} as const satisfies Record<string, EventSpec>;

export type EventName = keyof typeof TELEMETRY;
type Spec<N extends EventName> = (typeof TELEMETRY)[N];
export type EventFields<N extends EventName> = { [K in Spec<N>['fields'][number]]?: FieldValue };

/** One event as written: its name and its defined fields. */
export interface TelemetryEvent<N extends EventName = EventName> {
  event: N;
  fields: EventFields<N>;
}

function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(TELEMETRY, name);
}

/** The level an event is logged at. */
export function levelOf<N extends EventName>(name: N, fields: EventFields<N>): Level {
  const spec: EventSpec = TELEMETRY[name];
  if (spec.errorWhen && (fields as Record<string, FieldValue>)[spec.errorWhen.field] === spec.errorWhen.value) return 'error';
  return spec.level;
}

/** The event as one JSON object, fields without a value left out. */
export function formatEvent<N extends EventName>(name: N, fields: EventFields<N>): string {
  return JSON.stringify({ event: name, ...definedFields(fields) });
}

/** The event a log line holds, if it is one of ours; anything else (a host line) is undefined. */
export function parseEvent(line: string): TelemetryEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const { event, ...fields } = JSON.parse(line) as { event?: unknown };
    return isEventName(event) ? { event, fields: fields as EventFields<EventName> } : undefined;
  } catch {
    return undefined;
  }
}
