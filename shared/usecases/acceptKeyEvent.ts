import { normaliseKeyVaultEvent } from '../domain/events';
import { derivedId } from '../domain/ids';
import type { FanOutJob } from '../domain/jobs';
import type { NearExpiryAction } from '../config';
import type { JobQueue, Logger } from '../ports';

interface AcceptKeyEventDeps {
  queue: JobQueue;
  isAllowedVault: (vaultUri: string) => boolean;
  nearExpiryAction: NearExpiryAction;
}

const NEAR_EXPIRY: Record<NearExpiryAction, FanOutJob['action']> = { 'bind-newer': 'bind', rotate: 'rotate', notify: 'notify' };

type AcceptResult =
  | { outcome: 'enqueued'; job: FanOutJob }
  | { outcome: 'ignored'; reason: string }
  | { outcome: 'invalid'; problem: string };

/**
 * The Event Grid edge: normalise, filter, enqueue ONE fan-out job. Never reads Key Vault or ARM
 * here (Event Grid waits 30 s); the worker re-reads everything and trusts nothing in the event.
 */
export async function acceptKeyEvent(raw: unknown, deps: AcceptKeyEventDeps, log: Logger): Promise<AcceptResult> {
  const normalised = normaliseKeyVaultEvent(raw);
  if (normalised.kind === 'invalid') {
    log.event('key-event.rejected', { problem: normalised.problem });
    return { outcome: 'invalid', problem: normalised.problem };
  }
  if (normalised.kind === 'ignored') {
    log.event('key-event.ignored', { reason: normalised.reason, eventType: normalised.eventType });
    return { outcome: 'ignored', reason: normalised.reason };
  }
  const event = normalised.event;
  if (!deps.isAllowedVault(event.vaultUri)) {
    log.event('key-event.vault-not-allowed', { eventId: event.id, vaultUri: event.vaultUri });
    return { outcome: 'ignored', reason: `vault ${event.vaultUri} is not allowed` };
  }

  const job: FanOutJob = {
    kind: 'fan-out',
    // Event Grid delivers at least once: a re-delivered event names the same fan-out, and so the same rebind jobs.
    jobId: derivedId('fan-out', event.id, event.type),
    trigger: 'event',
    createdAt: event.time,
    eventId: event.id,
    eventType: `Microsoft.KeyVault.${event.type}`,
    vaultUri: event.vaultUri,
    keyName: event.keyName,
    force: false,
    action: 'bind',
  };
  // A new version names its target; a near-expiry event follows NEAR_EXPIRY_ACTION; an expired key is only reported.
  if (event.type === 'KeyNewVersionCreated') job.targetVersion = event.version;
  else {
    job.eventVersion = event.version;
    job.action = event.type === 'KeyExpired' ? 'expired' : NEAR_EXPIRY[deps.nearExpiryAction];
    // Only a rotation reads it; other jobs go without, as a worker of the previous release expects them.
    if (job.action === 'rotate' && event.expiresOn) job.eventExpiresOn = event.expiresOn.toISOString();
  }
  await deps.queue.enqueue(job);
  log.event('key-event.queued', { jobId: job.jobId, eventId: event.id, eventType: event.type, vaultUri: event.vaultUri, keyName: event.keyName, version: event.version });
  return { outcome: 'enqueued', job };
}
