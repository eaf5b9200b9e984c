import { accountKey } from '../domain/accounts';
import { derivedId } from '../domain/ids';
import { sameKey } from '../domain/keys';
import { ledgerRow, type AccountJob, type FanOutJob, type RebindJob } from '../domain/jobs';
import type { AccountState } from '../domain/model';
import type { AccountStore, BindingIndex, Clock, FindingStore, JobQueue, KeyStore, Ledger, Logger } from '../ports';
import { evaluateAccount, type FindingCode } from '../domain/findings';
import type { KeyPolicy } from '../domain/keys';
import { DependencyError } from '../errors';
import { TELEMETRY } from '../telemetry';
import { forEachLimited } from './concurrency';
import { readKey } from './keyViews';
import { newestUsableVersion, rotationHelps } from './keyVersions';

export interface FanOutDeps {
  accounts: AccountStore;
  keys: KeyStore;
  findings: FindingStore;
  policy: KeyPolicy;
  nearExpiryDays: number;
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
  // A subscription that cannot be listed does not hold back the others; the job fails afterwards so the queue retries it.
  const failures: string[] = [];
  const bound = await discoverBoundAccounts(job, deps, failures);
  if (!failures.length) {
    await deps.bindings.replace(job.vaultUri, job.keyName, bound.map((a) => ({ accountId: a.id, keyVersion: a.binding?.keyVersion ?? '' })));
  }

  const eligible = bound.filter((account) => {
    const out = optedOut(account, deps.optOutTag);
    if (out) log.info('Account opted out of rotation', { jobId: job.jobId, accountId: account.id, tag: deps.optOutTag });
    return !out;
  });
  const jobs: RebindJob[] = [];
  if (job.action === 'notify' || job.action === 'expired') await recordKeyFindings(job, eligible, deps, log);
  else await queueRebinds(job, eligible, deps, log, jobs);
  if (failures.length) throw new Error(`Fan-out incomplete, will retry: ${failures.join('; ')}`);
  log.info('Fan-out done', { jobId: job.jobId, keyName: job.keyName, boundAccounts: bound.length, queued: jobs.length });
  return jobs;
}

async function queueRebinds(job: FanOutJob, eligible: AccountState[], deps: FanOutDeps, log: Logger, jobs: RebindJob[]): Promise<void> {
  const targetVersion = job.action === 'rotate' && eligible.length ? await versionAfterExpiry(job, deps, log) : job.targetVersion;
  for (const account of eligible) {
    jobs.push({
      kind: 'rebind',
      // The same fan-out (a re-delivered event, a retry) names the same rebind jobs: one row and one PATCH each.
      jobId: derivedId(job.jobId, accountKey(account.id)),
      parentJobId: job.jobId,
      trigger: job.trigger,
      createdAt: job.createdAt,
      vaultUri: job.vaultUri,
      keyName: job.keyName,
      accountId: account.id,
      force: job.force,
      priorAttempts: 0,
      ...(targetVersion ? { targetVersion } : {}),
      ...(job.eventId ? { eventId: job.eventId } : {}),
      ...(job.eventType ? { eventType: job.eventType } : {}),
      ...(job.actor ? { actor: job.actor } : {}),
    });
  }
  await queueAccountJobs(jobs.map((rebind, i) => ({ job: rebind, account: eligible[i] })), deps);
}

/** How many jobs are being queued at once. */
export const QUEUE_CONCURRENCY = 16;

/**
 * The message first, then its row: a queued row always has a message behind it (a failed send leaves no row),
 * and the row is only created where absent, so it never overwrites what a fast worker already recorded.
 */
export async function queueAccountJobs(
  items: Array<{ job: AccountJob; account?: AccountState | undefined }>,
  deps: Pick<FanOutDeps, 'ledger' | 'queue'>,
): Promise<void> {
  await forEachLimited(items, QUEUE_CONCURRENCY, async ({ job, account }) => {
    await deps.queue.enqueue(job);
    await deps.ledger.recordQueued([{ ...ledgerRow(job, 'queued', 0), ...(account?.binding ? { fromVersion: account.binding.keyVersion } : {}) }]);
  });
}

/**
 * Every account in SUBSCRIPTION_IDS that uses a Key Vault key. With `failures`, a subscription
 * that cannot be listed is noted there and the others are still returned; without, it throws.
 */
export async function discoverCmkAccounts(deps: Pick<FanOutDeps, 'accounts' | 'subscriptionIds'>, failures?: string[]): Promise<AccountState[]> {
  const found: AccountState[] = [];
  for (const subscriptionId of deps.subscriptionIds) {
    try {
      for await (const account of deps.accounts.listAccounts(subscriptionId)) {
        if (account.keySource === 'Microsoft.KeyVault' && account.binding) found.push(account);
      }
    } catch (error) {
      if (!failures || !(error instanceof DependencyError)) throw error;
      failures.push(`subscription ${subscriptionId}: listing accounts failed part-way: ${error.message}`);
    }
  }
  return found;
}

export async function discoverBoundAccounts(
  key: { vaultUri: string; keyName: string },
  deps: Pick<FanOutDeps, 'accounts' | 'subscriptionIds'>,
  failures?: string[],
): Promise<AccountState[]> {
  return (await discoverCmkAccounts(deps, failures)).filter((a) => a.binding && sameKey(a.binding, key));
}

export function optedOut(account: AccountState, tag: string): boolean {
  const entry = Object.entries(account.tags).find(([k]) => k.toLowerCase() === tag.toLowerCase());
  return entry !== undefined && entry[1].toLowerCase() !== 'false';
}

/**
 * NEAR_EXPIRY_ACTION=rotate: a version created after the expiring one and usable is bound as it
 * is; otherwise Key Vault rotates the key once. A retried fan-out finds that version and does not
 * rotate again.
 */
async function versionAfterExpiry(job: FanOutJob, deps: FanOutDeps, log: Logger): Promise<string | undefined> {
  const now = deps.clock.now();
  const { version: newest, order } = await newestUsableVersion(deps.keys, job.vaultUri, job.keyName, deps.policy, now);
  const expiring = job.eventVersion ? await deps.keys.getKeyVersion(job.vaultUri, job.keyName, job.eventVersion) : undefined;
  if (newest && (!expiring || (order.compare(newest, expiring) ?? 0) > 0)) return newest.version;
  if (!expiring || !rotationHelps(expiring, deps.nearExpiryDays, now)) {
    log.warn('Not rotating: the expiring version is younger than NEAR_EXPIRY_DAYS, so a new one would be near expiry too', { jobId: job.jobId, keyName: job.keyName, version: job.eventVersion });
    return undefined;
  }
  const rotated = await deps.keys.rotateKey(job.vaultUri, job.keyName);
  log.info('Rotated a key near expiry', { jobId: job.jobId, keyName: job.keyName, expiring: job.eventVersion, version: rotated.version });
  return rotated.version;
}

const KEY_CODES: ReadonlySet<FindingCode> = new Set(['key-near-expiry', 'key-expired', 'key-disabled', 'key-missing', 'key-access-denied']);

/** notify / expired: re-read the key (never trust the event) and record what it says about each bound account. */
async function recordKeyFindings(job: FanOutJob, accounts: AccountState[], deps: FanOutDeps, log: Logger): Promise<void> {
  if (!accounts.length) return;
  const now = deps.clock.now();
  const key = await readKey(deps.keys, job.vaultUri, job.keyName, accounts.map((a) => a.binding?.keyVersion ?? ''), deps.policy, now);
  if (!key.ok) throw new Error(key.error);
  for (const account of accounts) {
    const findings = evaluateAccount({
      account, key: key.view(account.binding?.keyVersion ?? ''), vault: { status: 'error', reason: 'not read for an event' },
      policy: deps.policy, nearExpiryDays: deps.nearExpiryDays, now,
    }).filter((f) => KEY_CODES.has(f.code));
    await deps.findings.upsert(account.id, findings, job.eventId ?? job.jobId, now.toISOString());
    for (const f of findings.filter((f) => f.severity === 'critical')) {
      log.error(`${TELEMETRY.criticalFinding}: ${f.code} on ${account.name}`, { jobId: job.jobId, accountId: account.id, code: f.code, remedy: f.remedy });
    }
  }
  log.info('Recorded key findings from an expiry event', { jobId: job.jobId, action: job.action, keyName: job.keyName, accounts: accounts.length });
}
