import { accountKey } from '../domain/accounts';
import { derivedId } from '../domain/ids';
import { ledgerRow, type AccountJob, type FanOutJob, type RebindJob } from '../domain/jobs';
import type { AccountState, BindingHolder, EncryptionScopeState } from '../domain/model';
import { bindingsTo, evaluateScope } from '../domain/scopes';
import type { AccountDiscovery, Clock, FindingStore, JobQueue, KeyStore, Ledger, Logger } from '../ports';
import { evaluateAccount, type Finding, type FindingCode } from '../domain/findings';
import type { KeyPolicy } from '../domain/keys';
import { forEachLimited, readAhead } from './concurrency';
import { KeyReader } from './keyViews';
import { newestUsableVersion, rotationHelps } from './keyVersions';

export interface FanOutDeps {
  discovery: AccountDiscovery;
  keys: KeyStore;
  findings: FindingStore;
  policy: KeyPolicy;
  nearExpiryDays: number;
  ledger: Ledger;
  queue: JobQueue;
  clock: Clock;
  newId: () => string;
  optOutTag: string;
}

/**
 * Discovers every account bound to the job's key and queues one rebind job per binding to it (the account's own,
 * and each of its encryption scopes', all under the account's lease), page by page: the first
 * rebinds start while later pages are still being read, and memory holds one page, not the estate.
 */
export async function fanOut(job: FanOutJob, deps: FanOutDeps, log: Logger): Promise<{ bound: number; queued: number }> {
  let bound = 0;
  let queued = 0;
  let target: { version: string | undefined } | undefined;
  for await (const page of readAhead(deps.discovery.boundTo(job))) {
    const eligible = page.filter((account) => {
      const out = optedOut(account, deps.optOutTag);
      if (out) log.event('fan-out.opted-out', { jobId: job.jobId, accountId: account.id, tag: deps.optOutTag });
      return !out;
    });
    const bindings = eligible.flatMap((account) => bindingsTo(account, job).map(({ scope }) => ({ account, scope })));
    bound += bindings.length;
    if (!bindings.length) continue;
    if (job.action === 'notify' || job.action === 'expired') {
      await recordKeyFindings(job, eligible, deps, log);
      continue;
    }
    // Decided once, for the first account found (NEAR_EXPIRY_ACTION=rotate rotates at most once).
    target ??= { version: job.action === 'rotate' ? await versionAfterExpiry(job, deps, log) : job.targetVersion };
    await queueAccountJobs(bindings.map(({ account, scope }) => ({ job: rebindJobFor(job, account, target?.version, scope), account: scope ?? account })), deps);
    queued += bindings.length;
  }
  log.event('fan-out.done', { jobId: job.jobId, vaultUri: job.vaultUri, keyName: job.keyName, action: job.action, bindings: bound, queued });
  return { bound, queued };
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

/** How many jobs are being queued at once. */
export const QUEUE_CONCURRENCY = 16;

/**
 * The message first, then its row: a queued row always has a message behind it (a failed send leaves no row),
 * and the row is only created where absent, so it never overwrites what a fast worker already recorded.
 */
export async function queueAccountJobs(
  /** Each job with the binding it is about as discovery read it (its version is the queued row's fromVersion). */
  items: Array<{ job: AccountJob; account?: Pick<BindingHolder, 'binding'> | undefined }>,
  deps: Pick<FanOutDeps, 'ledger' | 'queue'>,
): Promise<void> {
  await forEachLimited(items, QUEUE_CONCURRENCY, async ({ job, account }) => {
    await deps.queue.enqueue(job);
    await deps.ledger.recordQueued([{ ...ledgerRow(job, 'queued', 0), ...(account?.binding?.keyVersion ? { fromVersion: account.binding.keyVersion } : {}) }]);
  });
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
    log.event('key.not-rotated', { jobId: job.jobId, keyName: job.keyName, version: job.eventVersion });
    return undefined;
  }
  const rotated = await deps.keys.rotateKey(job.vaultUri, job.keyName);
  log.event('key.rotated', { jobId: job.jobId, keyName: job.keyName, expiring: job.eventVersion, version: rotated.version });
  return rotated.version;
}

const KEY_CODES: ReadonlySet<FindingCode> = new Set(['key-near-expiry', 'key-expired', 'key-disabled', 'key-missing', 'key-access-denied']);

/** notify / expired: re-read the key (never trust the event) and record what it says about each bound account. */
async function recordKeyFindings(job: FanOutJob, accounts: AccountState[], deps: FanOutDeps, log: Logger): Promise<void> {
  if (!accounts.length) return;
  const now = deps.clock.now();
  const key = new KeyReader(deps.keys, job.vaultUri, job.keyName, deps.policy, now);
  for (const account of accounts) {
    const findings: Finding[] = [];
    for (const { holder, scope } of bindingsTo(account, job)) {
      const input = {
        account, key: await key.view(holder.binding.keyVersion), vault: { status: 'error', reason: 'not read for an event' } as const,
        policy: deps.policy, nearExpiryDays: deps.nearExpiryDays, now,
      };
      findings.push(...(scope ? evaluateScope(input, scope) : evaluateAccount(input)).filter((f) => KEY_CODES.has(f.code)));
    }
    await deps.findings.upsert(account.id, findings, job.eventId ?? job.jobId, now.toISOString());
    for (const f of findings.filter((f) => f.severity === 'critical')) {
      log.event('finding.critical', { jobId: job.jobId, accountId: account.id, accountName: account.name, encryptionScope: f.encryptionScope, code: f.code, remedy: f.remedy });
    }
  }
  log.event('key-findings.recorded', { jobId: job.jobId, action: job.action, keyName: job.keyName, accounts: accounts.length });
}
