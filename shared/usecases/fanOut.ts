import { sameKey } from '../domain/keys';
import type { AccountJob, FanOutJob, RebindJob } from '../domain/jobs';
import type { AccountState } from '../domain/model';
import type { AccountStore, BindingIndex, Clock, JobQueue, Ledger, Logger } from '../ports';

export interface FanOutDeps {
  accounts: AccountStore;
  bindings: BindingIndex;
  ledger: Ledger;
  queue: JobQueue;
  clock: Clock;
  newId: () => string;
  subscriptionIds: readonly string[];
  optOutTag: string;
}

/** Discovers every account bound to the job's key, refreshes the Bindings index, and queues one rebind job each. */
export async function fanOut(job: FanOutJob, deps: FanOutDeps, log: Logger): Promise<RebindJob[]> {
  const bound = await discoverBoundAccounts(job, deps);
  await deps.bindings.replace(
    job.vaultUri,
    job.keyName,
    bound.map((a) => ({ accountId: a.id, keyVersion: a.binding?.keyVersion ?? '' })),
  );

  const jobs: RebindJob[] = [];
  for (const account of bound) {
    if (optedOut(account, deps.optOutTag)) {
      log.info('Account opted out of rotation', { jobId: job.jobId, accountId: account.id, tag: deps.optOutTag });
      continue;
    }
    const rebind: RebindJob = {
      kind: 'rebind',
      jobId: deps.newId(),
      parentJobId: job.jobId,
      trigger: job.trigger,
      createdAt: deps.clock.now().toISOString(),
      vaultUri: job.vaultUri,
      keyName: job.keyName,
      accountId: account.id,
      force: job.force,
      ...(job.targetVersion ? { targetVersion: job.targetVersion } : {}),
      ...(job.eventId ? { eventId: job.eventId } : {}),
      ...(job.eventType ? { eventType: job.eventType } : {}),
      ...(job.actor ? { actor: job.actor } : {}),
    };
    await queueAccountJob(rebind, account, deps);
    jobs.push(rebind);
  }
  log.info('Fan-out done', { jobId: job.jobId, keyName: job.keyName, boundAccounts: bound.length, queued: jobs.length });
  return jobs;
}

/** Intent first: the queued ledger row exists before the job can run. */
export async function queueAccountJob(job: AccountJob, account: AccountState, deps: Pick<FanOutDeps, 'ledger' | 'queue'>): Promise<void> {
  await deps.ledger.record({
    jobId: job.jobId,
    accountId: job.accountId,
    trigger: job.trigger,
    vaultUri: job.vaultUri,
    keyName: job.keyName,
    status: 'queued',
    attempt: 0,
    queuedAt: job.createdAt,
    ...(account.binding ? { fromVersion: account.binding.keyVersion } : {}),
    ...('targetVersion' in job && job.targetVersion ? { toVersion: job.targetVersion } : {}),
    ...(job.eventId ? { eventId: job.eventId } : {}),
    ...(job.eventType ? { eventType: job.eventType } : {}),
    ...(job.actor ? { actor: job.actor } : {}),
  });
  await deps.queue.enqueue(job);
}

export async function discoverBoundAccounts(job: { vaultUri: string; keyName: string }, deps: Pick<FanOutDeps, 'accounts' | 'subscriptionIds'>): Promise<AccountState[]> {
  const bound: AccountState[] = [];
  for (const subscriptionId of deps.subscriptionIds) {
    for await (const account of deps.accounts.listAccounts(subscriptionId)) {
      if (account.keySource === 'Microsoft.KeyVault' && account.binding && sameKey(account.binding, job)) bound.push(account);
    }
  }
  return bound;
}

export function optedOut(account: AccountState, tag: string): boolean {
  const entry = Object.entries(account.tags).find(([k]) => k.toLowerCase() === tag.toLowerCase());
  return entry !== undefined && entry[1].toLowerCase() !== 'false';
}
