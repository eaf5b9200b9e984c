import { accountKey } from '../domain/accounts';
import { evaluateAccount, summarise, type Finding, type SweepSummary, type SweepTrigger, type VaultView } from '../domain/findings';
import { derivedId } from '../domain/ids';
import type { RebindJob } from '../domain/jobs';
import { vaultHost } from '../domain/keys';
import type { AccountState } from '../domain/model';
import type { NearExpiryAction, SweepMode } from '../config';
import { DependencyError } from '../errors';
import type { Pin } from '../domain/rebind';
import type { Logger, PinStore, SweepStore, VaultDirectory } from '../ports';
import { TELEMETRY } from '../telemetry';
import { discoverCmkAccounts, optedOut, queueAccountJobs, type FanOutDeps } from './fanOut';
import { readKey, type KeyRead } from './keyViews';
import { rotationHelps } from './keyVersions';

export interface SweepDeps
  extends Pick<FanOutDeps, 'accounts' | 'keys' | 'findings' | 'ledger' | 'queue' | 'clock' | 'newId' | 'subscriptionIds' | 'optOutTag' | 'policy' | 'nearExpiryDays'> {
  isAllowedVault: (vaultUri: string) => boolean;
  /** A fresh directory per sweep: vault listings are read once per run. */
  vaultDirectory: () => VaultDirectory;
  sweeps: SweepStore;
  pins: PinStore;
  sweepMode: SweepMode;
  nearExpiryAction: NearExpiryAction;
}

interface KeyGroup {
  vaultUri: string;
  keyName: string;
  accounts: AccountState[];
}

/**
 * The compliance sweep: discover CMK-bound accounts, read each key and vault once, store each
 * account's findings, and in enforce mode queue the repairs. A run that could not read
 * everything is recorded as partial, never as healthy.
 */
export async function runSweep(sweepId: string, trigger: SweepTrigger, deps: SweepDeps, log: Logger): Promise<SweepSummary> {
  const started = deps.clock.now();
  const summary: SweepSummary = {
    sweepId, trigger, mode: deps.sweepMode, status: 'running', startedAt: started.toISOString(),
    accountsSeen: 0, keysRead: 0, findingsByCode: {}, findingsBySeverity: {}, remediationsQueued: 0, errors: [],
  };
  await deps.sweeps.record(summary);
  const perAccount: Finding[][] = [];
  try {
    const listing: string[] = [];
    const accounts = (await discoverCmkAccounts(deps, listing)).filter((a) => !optedOut(a, deps.optOutTag));
    const complete = listing.length === 0;
    summary.errors.push(...listing);
    summary.accountsSeen = accounts.length;
    const pins = new Map((await deps.pins.list()).map((p) => [p.accountId.toLowerCase(), p]));
    const vaults = deps.vaultDirectory();
    const vaultViews = new Map<string, Promise<VaultView>>();
    for (const group of groupByKey(accounts)) {
      // One key's trouble (a throttled read, a refused rotation, a Tables fault) must not end the run.
      try {
        await sweepKey(group, sweepId, deps, log, summary, perAccount, pins, (uri) => {
          const host = vaultHost(uri);
          if (!vaultViews.has(host)) vaultViews.set(host, readVault(vaults, uri));
          return vaultViews.get(host) as Promise<VaultView>;
        });
      } catch (error) {
        summary.errors.push(`key ${group.keyName} in ${group.vaultUri}: ${(error as Error).message}`);
      }
    }
    // Only a complete discovery may say that an account without a row is no longer CMK-bound; accounts
    // seen but not evaluated (their key could not be read) keep their last findings.
    if (complete) await deps.findings.removeAccountsNotIn(new Set(accounts.map((a) => a.id)));
    summary.status = summary.errors.length ? 'partial' : 'completed';
  } catch (error) {
    summary.status = 'failed';
    summary.errors.push((error as Error).message);
    throw error;
  } finally {
    const finished = deps.clock.now();
    Object.assign(summary, summarise(perAccount), { finishedAt: finished.toISOString(), durationMs: finished.getTime() - started.getTime() });
    await deps.sweeps.record(summary);
    log.info('Sweep done', {
      sweepId, status: summary.status, accounts: summary.accountsSeen, keys: summary.keysRead,
      critical: summary.findingsBySeverity.critical, remediations: summary.remediationsQueued, errors: summary.errors.length,
    });
  }
  return summary;
}

/** One key: read it once, judge each account bound to it, and in enforce mode queue the repairs. */
async function sweepKey(
  group: KeyGroup,
  sweepId: string,
  deps: SweepDeps,
  log: Logger,
  summary: SweepSummary,
  perAccount: Finding[][],
  pins: ReadonlyMap<string, Pin>,
  vaultView: (vaultUri: string) => Promise<VaultView>,
): Promise<void> {
  if (!deps.isAllowedVault(group.vaultUri)) {
    summary.errors.push(`key ${group.keyName} in ${group.vaultUri}: vault outside KEY_VAULT_HOST_SUFFIXES, not read (${group.accounts.length} accounts unchecked)`);
    return;
  }
  const now = deps.clock.now();
  const key = await readKey(deps.keys, group.vaultUri, group.keyName, group.accounts.map((a) => a.binding?.keyVersion ?? ''), deps.policy, now);
  if (!key.ok) {
    summary.errors.push(key.error);
    return;
  }
  summary.keysRead += 1;
  const vault = await vaultView(group.vaultUri);

  const nearExpiry: AccountState[] = [];
  const drifting: AccountState[] = [];
  for (const account of group.accounts) {
    const view = key.view(account.binding?.keyVersion ?? '');
    const pin = pins.get(account.id.toLowerCase());
    const findings = evaluateAccount({ account, pin, key: view, vault, policy: deps.policy, nearExpiryDays: deps.nearExpiryDays, now });
    await deps.findings.replaceForAccount(account.id, findings, sweepId, now.toISOString());
    for (const f of findings.filter((f) => f.severity === 'critical')) {
      log.error(`${TELEMETRY.criticalFinding}: ${f.code} on ${account.name}`, { sweepId, accountId: account.id, code: f.code, remedy: f.remedy });
    }
    perAccount.push(findings);
    // A pinned account stays where a person put it (§2a).
    if (deps.sweepMode !== 'enforce' || pin) continue;
    if (findings.some((f) => f.code === 'version-drift') && key.newestUsable) {
      drifting.push(account);
    } else if (findings.some((f) => f.code === 'key-near-expiry') && view.status === 'ok' && view.bound) {
      if (rotationHelps(view.bound, deps.nearExpiryDays, now)) nearExpiry.push(account);
      else log.warn('Not rotating: the key version is younger than NEAR_EXPIRY_DAYS, so a new one would be near expiry too', { sweepId, accountId: account.id, keyName: group.keyName });
    }
  }
  if (drifting.length && key.newestUsable) {
    await queueRemediations(drifting, group, key.newestUsable.version, sweepId, deps);
    summary.remediationsQueued += drifting.length;
  }
  summary.remediationsQueued += await remedyNearExpiry(nearExpiry, group, key, sweepId, deps, log);
}

function groupByKey(accounts: AccountState[]): KeyGroup[] {
  const groups = new Map<string, KeyGroup>();
  for (const account of accounts) {
    const b = account.binding;
    if (!b) continue;
    const id = `${vaultHost(b.vaultUri)}|${b.keyName.toLowerCase()}`;
    const group = groups.get(id) ?? { vaultUri: b.vaultUri, keyName: b.keyName, accounts: [] };
    group.accounts.push(account);
    groups.set(id, group);
  }
  return [...groups.values()];
}

async function readVault(vaults: VaultDirectory, vaultUri: string): Promise<VaultView> {
  try {
    const vault = await vaults.findVault(vaultUri);
    return vault ? { status: 'ok', vault } : { status: 'not-found' };
  } catch (error) {
    if (error instanceof DependencyError) return { status: 'error', reason: error.message };
    throw error;
  }
}

/** NEAR_EXPIRY_ACTION for accounts whose bound version nears expiry with nothing newer to bind. */
async function remedyNearExpiry(accounts: AccountState[], group: KeyGroup, key: Extract<KeyRead, { ok: true }>, sweepId: string, deps: SweepDeps, log: Logger): Promise<number> {
  if (!accounts.length || deps.nearExpiryAction !== 'rotate') return 0;
  // Once per key: its KeyNewVersionCreated event arrives too, and dedupe keeps that to one PATCH per account.
  const rotated = await deps.keys.rotateKey(group.vaultUri, group.keyName);
  log.info('Rotated a key near expiry', { sweepId, keyName: group.keyName, version: rotated.version, previous: key.newestUsable?.version });
  await queueRemediations(accounts, group, rotated.version, sweepId, deps);
  return accounts.length;
}

async function queueRemediations(accounts: AccountState[], group: KeyGroup, version: string, sweepId: string, deps: SweepDeps): Promise<void> {
  const createdAt = deps.clock.now().toISOString();
  await queueAccountJobs(accounts.map((account) => {
    const job: RebindJob = {
      kind: 'rebind', jobId: derivedId(sweepId, accountKey(account.id), version), parentJobId: sweepId, trigger: 'sweep', createdAt,
      vaultUri: group.vaultUri, keyName: group.keyName, accountId: account.id, targetVersion: version, force: false, priorAttempts: 0,
    };
    return { job, account };
  }), deps);
}

/** Longest a sweep may hold the lock before a later one takes over. */
export const SWEEP_LOCK_MS = 60 * 60_000;

/** Runs a sweep unless one is running; the lock is released however the run ends. */
export async function sweepOnce(
  sweepId: string,
  trigger: SweepTrigger,
  deps: SweepDeps,
  log: Logger,
): Promise<{ ran: true; summary: SweepSummary } | { ran: false; runningSweepId: string }> {
  const lock = await deps.sweeps.lock(sweepId, SWEEP_LOCK_MS);
  if (lock.held) {
    log.warn('A sweep is already running; this one is skipped', { sweepId, runningSweepId: lock.sweepId });
    return { ran: false, runningSweepId: lock.sweepId };
  }
  try {
    return { ran: true, summary: await runSweep(sweepId, trigger, deps, log) };
  } finally {
    await deps.sweeps.unlock(sweepId);
  }
}
