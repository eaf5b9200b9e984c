import { accountKey } from '../domain/accounts';
import { derivedId } from '../domain/ids';
import type { FanOutJob, RebindJob } from '../domain/jobs';
import type { AccountState, EncryptionScopeState } from '../domain/model';
import type { AccountDiscovery, Clock, Logger } from '../ports';
import { bindingPages } from './bindingDiscovery';
import { versionAfterExpiry, type ExpiryRotationDeps } from './expiryRotation';
import { recordKeyFindings, type KeyFindingDeps } from './keyFindings';
import { queueAccountJobs, type QueueDeps } from './queueJobs';

export interface FanOutDeps extends ExpiryRotationDeps, KeyFindingDeps, QueueDeps {
  discovery: AccountDiscovery;
  clock: Clock;
  newId: () => string;
  optOutTag: string;
}

/**
 * Discovers every account bound to the job's key and queues one rebind job per binding to it (the account's own,
 * and each of its encryption scopes', all under the account's lease), page by page: the first
 * rebinds start while later pages are still being read, and memory holds one page, not the estate. `delivery`:
 * the queue message it runs from (its redelivery is the same delivery, a second message of the job is not).
 */
export async function fanOut(job: FanOutJob, deps: FanOutDeps, log: Logger, delivery: string = deps.newId()): Promise<{ bound: number; queued: number }> {
  let bound = 0;
  let queued = 0;
  let target: { version: string | undefined } | { claimedBy: string; until: Date } | undefined;
  for await (const { eligible, bindings, optedOut } of bindingPages(deps.discovery, job, deps.optOutTag)) {
    for (const account of optedOut) log.event('fan-out.opted-out', { jobId: job.jobId, accountId: account.id, tag: deps.optOutTag });
    bound += bindings.length;
    if (!bindings.length) continue;
    if (job.action === 'notify' || job.action === 'expired') {
      await recordKeyFindings(job, eligible, deps, log);
      continue;
    }
    // Decided once, for the first account found (NEAR_EXPIRY_ACTION=rotate rotates at most once).
    if (!target) {
      target = job.action === 'rotate' ? await versionAfterExpiry(job, deps, log, `${job.jobId}/${delivery}`) : { version: job.targetVersion };
      if ('claimedBy' in target) await followClaim(job, target, deps, log);
    }
    if ('claimedBy' in target) continue;
    const { version } = target;
    await queueAccountJobs(bindings.map(({ account, scope }) => ({ job: rebindJobFor(job, account, version, scope), account: scope ?? account })), deps);
    queued += bindings.length;
  }
  log.event('fan-out.done', { jobId: job.jobId, vaultUri: job.vaultUri, keyName: job.keyName, action: job.action, bindings: bound, queued });
  return { bound, queued };
}

/** Seconds past a claim's expiry that the fan-out queued again waits (instances' clocks differ by less). */
const AFTER_CLAIM_MARGIN_S = 30;

/**
 * Another fan-out or sweep claimed the rotation: this one queues nothing now (a copy of the same fan-out names the
 * same jobs, which could end on the expiring version before it is replaced) and runs once more just after the claim
 * expires, to bind what the holder made or, if it made nothing (it failed), rotate. That run is not queued again.
 */
async function followClaim(job: FanOutJob, claim: { claimedBy: string; until: Date }, deps: FanOutDeps, log: Logger): Promise<void> {
  const facts = { jobId: job.jobId, keyName: job.keyName, version: job.eventVersion, holder: claim.claimedBy };
  if (job.afterClaim) {
    log.event('key.rotation-abandoned', facts);
    return;
  }
  const again = Math.max(0, Math.ceil((claim.until.getTime() - deps.clock.now().getTime()) / 1000)) + AFTER_CLAIM_MARGIN_S;
  log.event('key.rotation-claimed', { ...facts, againInSeconds: again });
  await deps.queue.enqueue({ ...job, afterClaim: true }, { delaySeconds: again });
}

function rebindJobFor(job: FanOutJob, account: AccountState, targetVersion: string | undefined, scope?: EncryptionScopeState): RebindJob {
  return {
    kind: 'rebind',
    // The same fan-out (a re-delivered event, a retry) names the same rebind jobs: one row and one PATCH each, per scope too.
    jobId: derivedId(job.jobId, accountKey(account.id), ...(scope ? [scope.name] : [])),
    parentJobId: job.jobId,
    trigger: job.trigger,
    createdAt: job.createdAt,
    vaultUri: job.vaultUri,
    keyName: job.keyName,
    accountId: account.id,
    ...(scope ? { encryptionScope: scope.name } : {}),
    force: job.force,
    priorAttempts: 0,
    ...(targetVersion ? { targetVersion } : {}),
    ...(job.eventId ? { eventId: job.eventId } : {}),
    ...(job.eventType ? { eventType: job.eventType } : {}),
    ...(job.actor ? { actor: job.actor } : {}),
  };
}
