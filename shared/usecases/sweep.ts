import { accountKey } from '../domain/accounts';
import { evaluateAccount, SEVERITIES, type Finding, type Severity, type SweepSummary, type SweepTrigger, type VaultView } from '../domain/findings';
import { derivedId } from '../domain/ids';
import type { RebindJob } from '../domain/jobs';
import { vaultHost } from '../domain/keys';
import type { AccountState } from '../domain/model';
import type { Pin } from '../domain/rebind';
import type { NearExpiryAction, SweepMode } from '../config';
import { DependencyError } from '../errors';
import type { AccountStore, Logger, PinStore, RoleGrantReader, StoredVerdicts, SweepStore, VaultDirectory } from '../ports';
import { TELEMETRY } from '../telemetry';
import { forEachLimited } from './concurrency';
import { optedOut, queueAccountJobs, type FanOutDeps } from './fanOut';
import { GrantReads } from './keyAccess';
import { KeyReader } from './keyViews';
import { rotationHelps } from './keyVersions';

export interface SweepDeps
  extends Pick<FanOutDeps, 'discovery' | 'keys' | 'findings' | 'ledger' | 'queue' | 'clock' | 'newId' | 'optOutTag' | 'policy' | 'nearExpiryDays'> {
  /** Discovery may lag behind ARM: a repair is queued only after ARM confirms the drift. */
  accounts: AccountStore;
  isAllowedVault: (vaultUri: string) => boolean;
  /** A fresh directory per sweep: vault listings are read once per run. */
  vaultDirectory: () => VaultDirectory;
  /** A fresh reader per sweep: role grants of RBAC vaults and Managed HSMs, read once per vault and principal. */
  roleGrants: () => RoleGrantReader;
  sweeps: SweepStore;
  pins: PinStore;
  sweepMode: SweepMode;
  nearExpiryAction: NearExpiryAction;
}

/** Accounts judged at once, and findings written at once (each account is one Table transaction). */
const CONCURRENCY = 32;

/**
 * The compliance sweep: stream the CMK-bound accounts page by page, read each key and vault once, write only
 * the verdicts that changed, and in enforce mode queue the repairs. Memory holds a page, the stored verdicts'
 * digests and one reader per key, not the estate. A run that could not read everything is partial, never healthy.
 */
export async function runSweep(sweepId: string, trigger: SweepTrigger, deps: SweepDeps, log: Logger): Promise<SweepSummary> {
  const started = deps.clock.now();
  const summary: SweepSummary = {
    sweepId, trigger, mode: deps.sweepMode, status: 'running', startedAt: started.toISOString(),
    accountsSeen: 0, keysRead: 0, findingsByCode: {}, findingsBySeverity: {}, remediationsQueued: 0, errors: [],
  };
  await deps.sweeps.record(summary);
  const run = new SweepRun(sweepId, deps, log, summary);
  try {
    await run.prepare();
    let complete = true;
    try {
      for await (const page of deps.discovery.cmkAccounts()) await run.page(page);
    } catch (error) {
      if (!(error instanceof DependencyError)) throw error;
      complete = false;
      summary.errors.push(`discovery failed part-way: ${error.message}`);
    }
    await run.finishKeys();
    // Only a complete discovery may say that an account not seen is no longer CMK-bound; accounts seen but not
    // judged (their key could not be read) keep their last findings.
    if (complete) await deps.findings.removeAccountsNotIn(run.seen, run.stored);
    summary.status = summary.errors.length ? 'partial' : 'completed';
  } catch (error) {
    summary.status = 'failed';
    summary.errors.push((error as Error).message);
    throw error;
  } finally {
    const finished = deps.clock.now();
    Object.assign(summary, { finishedAt: finished.toISOString(), durationMs: finished.getTime() - started.getTime() });
    await deps.sweeps.record(summary);
    log.info('Sweep done', {
      sweepId, status: summary.status, accounts: summary.accountsSeen, keys: summary.keysRead,
      critical: summary.findingsBySeverity.critical, remediations: summary.remediationsQueued, errors: summary.errors.length,
    });
  }
  return summary;
}

interface KeyState {
  reader: KeyReader;
  /** Accounts whose bound version nears expiry with nothing newer to bind (NEAR_EXPIRY_ACTION=rotate). */
  nearExpiry: AccountState[];
  failed?: string;
}

class SweepRun {
  stored: StoredVerdicts = new Map();
  pins = new Map<string, Pin>();
  readonly seen = new Set<string>();
  private readonly keys = new Map<string, KeyState>();
  private readonly vaultViews = new Map<string, Promise<VaultView>>();
  private readonly vaults: VaultDirectory;
  private readonly grants: GrantReads;
  private readonly now: Date;

  constructor(
    private readonly sweepId: string,
    private readonly deps: SweepDeps,
    private readonly log: Logger,
    private readonly summary: SweepSummary,
  ) {
    this.vaults = deps.vaultDirectory();
    this.grants = new GrantReads(deps.roleGrants());
    this.now = deps.clock.now();
    for (const severity of SEVERITIES) summary.findingsBySeverity[severity] = 0;
  }

  async prepare(): Promise<void> {
    const [stored, pins] = await Promise.all([this.deps.findings.verdicts(), this.deps.pins.list()]);
    this.stored = stored;
    this.pins = new Map(pins.map((p) => [p.accountId.toLowerCase(), p]));
  }

  async page(accounts: AccountState[]): Promise<void> {
    const drifting: Array<{ account: AccountState; key: KeyState }> = [];
    await forEachLimited(accounts.filter((a) => a.binding && !optedOut(a, this.deps.optOutTag)), CONCURRENCY, async (account) => {
      this.summary.accountsSeen += 1;
      this.seen.add(accountKey(account.id));
      const key = this.key(account);
      const findings = await this.judge(account, key);
      if (!findings) return;
      if (this.deps.sweepMode !== 'enforce' || this.pins.has(account.id.toLowerCase())) return;
      if (findings.some((f) => f.code === 'version-drift')) drifting.push({ account, key });
      else if (findings.some((f) => f.code === 'key-near-expiry')) await this.nearExpiry(account, key);
    });
    await this.repair(drifting);
  }

  /** One account's findings, stored only when they changed; undefined when its key could not be read. */
  private async judge(account: AccountState, key: KeyState): Promise<Finding[] | undefined> {
    const bound = account.binding?.keyVersion ?? '';
    let view;
    try {
      if (key.failed) return undefined;
      view = await key.reader.view(bound);
    } catch (error) {
      if (!(error instanceof DependencyError)) throw error;
      if (!key.failed) this.summary.errors.push(`key ${key.reader.keyName} in ${key.reader.vaultUri}: ${error.message}`);
      key.failed = error.message;
      return undefined;
    }
    const pin = this.pins.get(account.id.toLowerCase());
    const vault = await this.vault(account);
    let grants;
    try {
      grants = vault.status === 'ok' ? await this.grants.forAccount(account, vault.vault) : undefined;
    } catch (error) {
      if (!(error instanceof DependencyError)) throw error;
      this.summary.errors.push(`role assignments for ${account.name} in ${account.binding?.vaultUri ?? ''}: ${error.message}`);
      return undefined;
    }
    const findings = evaluateAccount({ account, pin, key: view, vault, grants, policy: this.deps.policy, nearExpiryDays: this.deps.nearExpiryDays, now: this.now });
    await this.deps.findings.replaceForAccount(account.id, findings, this.sweepId, this.now.toISOString(), this.stored.get(accountKey(account.id)) ?? new Map());
    for (const f of findings) {
      this.summary.findingsByCode[f.code] = (this.summary.findingsByCode[f.code] ?? 0) + 1;
      this.summary.findingsBySeverity[f.severity as Severity] = (this.summary.findingsBySeverity[f.severity] ?? 0) + 1;
      if (f.severity === 'critical') this.log.error(`${TELEMETRY.criticalFinding}: ${f.code} on ${account.name}`, { sweepId: this.sweepId, accountId: account.id, code: f.code, remedy: f.remedy });
    }
    return findings;
  }

  /** Enforce mode: drift seen in discovery is confirmed through ARM (Resource Graph lags) before a repair is queued. */
  private async repair(drifting: Array<{ account: AccountState; key: KeyState }>): Promise<void> {
    const confirmed: Array<{ account: AccountState; key: KeyState; version: string }> = [];
    await forEachLimited(drifting, CONCURRENCY, async ({ account, key }) => {
      const [now, target] = await Promise.all([this.deps.accounts.getAccount(account.id), key.reader.newestUsable()]);
      if (target && now?.binding?.keyVersion.toLowerCase() === account.binding?.keyVersion.toLowerCase()) confirmed.push({ account: now ?? account, key, version: target.version });
    });
    for (const { account, key, version } of confirmed) await this.queue([account], key, version);
  }

  private async nearExpiry(account: AccountState, key: KeyState): Promise<void> {
    const view = await key.reader.view(account.binding?.keyVersion ?? '');
    if (view.status !== 'ok' || !view.bound) return;
    if (rotationHelps(view.bound, this.deps.nearExpiryDays, this.now)) key.nearExpiry.push(account);
    else this.log.warn('Not rotating: the key version is younger than NEAR_EXPIRY_DAYS, so a new one would be near expiry too', { sweepId: this.sweepId, accountId: account.id, keyName: key.reader.keyName });
  }

  /** After the last page: NEAR_EXPIRY_ACTION=rotate rotates each key at most once and binds the new version. */
  async finishKeys(): Promise<void> {
    for (const key of this.keys.values()) {
      if (!key.nearExpiry.length || this.deps.nearExpiryAction !== 'rotate') continue;
      try {
        const rotated = await this.deps.keys.rotateKey(key.reader.vaultUri, key.reader.keyName);
        this.log.info('Rotated a key near expiry', { sweepId: this.sweepId, keyName: key.reader.keyName, version: rotated.version });
        await this.queue(key.nearExpiry, key, rotated.version);
      } catch (error) {
        if (!(error instanceof DependencyError)) throw error;
        this.summary.errors.push(`rotating key ${key.reader.keyName} in ${key.reader.vaultUri}: ${error.message}`);
      }
    }
  }

  private async queue(accounts: AccountState[], key: KeyState, version: string): Promise<void> {
    const createdAt = this.deps.clock.now().toISOString();
    await queueAccountJobs(accounts.map((account) => {
      const job: RebindJob = {
        kind: 'rebind', jobId: derivedId(this.sweepId, accountKey(account.id), version), parentJobId: this.sweepId, trigger: 'sweep', createdAt,
        vaultUri: key.reader.vaultUri, keyName: key.reader.keyName, accountId: account.id, targetVersion: version, force: false, priorAttempts: 0,
      };
      return { job, account };
    }), this.deps);
    this.summary.remediationsQueued += accounts.length;
  }

  private key(account: AccountState): KeyState {
    const b = account.binding as NonNullable<AccountState['binding']>;
    const id = `${vaultHost(b.vaultUri)}|${b.keyName.toLowerCase()}`;
    let key = this.keys.get(id);
    if (!key) {
      key = { reader: new KeyReader(this.deps.keys, b.vaultUri, b.keyName, this.deps.policy, this.now), nearExpiry: [] };
      if (!this.deps.isAllowedVault(b.vaultUri)) {
        key.failed = 'vault outside KEY_VAULT_HOST_SUFFIXES';
        this.summary.errors.push(`key ${b.keyName} in ${b.vaultUri}: vault outside KEY_VAULT_HOST_SUFFIXES, not read (its accounts unchecked)`);
      } else {
        this.summary.keysRead += 1;
      }
      this.keys.set(id, key);
    }
    return key;
  }

  private vault(account: AccountState): Promise<VaultView> {
    const uri = account.binding?.vaultUri ?? '';
    const host = vaultHost(uri);
    let view = this.vaultViews.get(host);
    if (!view) {
      view = this.vaults.findVault(uri).then(
        (vault): VaultView => (vault ? { status: 'ok', vault } : { status: 'not-found' }),
        (error: unknown): VaultView => {
          if (error instanceof DependencyError) return { status: 'error', reason: error.message };
          throw error;
        },
      );
      this.vaultViews.set(host, view);
    }
    return view;
  }
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
