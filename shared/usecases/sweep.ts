import { accountKey } from '../domain/accounts';
import { evaluateAccount, SEVERITIES, type Finding, type KeyView, type Severity, type SweepSummary, type SweepTrigger, type VaultView } from '../domain/findings';
import { derivedId } from '../domain/ids';
import type { RebindJob } from '../domain/jobs';
import { vaultHost } from '../domain/keys';
import type { AccountState, KeyBinding } from '../domain/model';
import type { Pin } from '../domain/rebind';
import { bindingKey, cmkBindings, evaluateScope, type BoundTarget } from '../domain/scopes';
import type { NearExpiryAction, SweepMode } from '../config';
import { DependencyError } from '../errors';
import type { AccountStore, Logger, PinStore, RoleGrantReader, ScopeIndex, StoredScopes, StoredVerdicts, SweepStore, VaultDirectory } from '../ports';
import { forEachLimited, readAhead } from './concurrency';
import { VerdictWriter } from './verdictWriter';
import { optedOut } from './bindingDiscovery';
import type { FanOutDeps } from './fanOut';
import { queueAccountJobs } from './queueJobs';
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
  /** ENCRYPTION_SCOPES=on: the sweep records the CMK scopes it saw, for events to find. */
  scopeIndex?: ScopeIndex;
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
  // The running row is written while the first reads are made; the last row waits for it, so it is never overwritten.
  const running = deps.sweeps.record(structuredClone(summary));
  running.catch(() => undefined);
  const run = new SweepRun(sweepId, deps, log, summary);
  try {
    // Discovery's first page is read while the pins and the stored verdicts are, and each next page while one is judged.
    const pages = readAhead(deps.discovery.cmkAccounts())[Symbol.asyncIterator]();
    run.prepare();
    let complete = true;
    for (;;) {
      let next: IteratorResult<AccountState[]>;
      try {
        next = await pages.next();
      } catch (error) {
        // Only discovery's own failure makes a partial run; a failure to store what was judged fails it.
        if (!(error instanceof DependencyError)) throw error;
        complete = false;
        summary.errors.push(`discovery failed part-way: ${error.message}`);
        break;
      }
      if (next.done) break;
      await run.page(next.value);
    }
    await run.finishKeys();
    // Every write that waited for the stored verdicts is done here, whatever discovery did.
    const verdicts = await run.storedVerdicts();
    // Only a complete discovery may say that an account not seen is no longer CMK-bound; accounts seen but not
    // judged (their key could not be read) keep their last findings.
    if (complete) {
      await deps.findings.removeAccountsNotIn(run.seen, verdicts);
      await deps.scopeIndex?.removeAccountsNotIn(run.seen, await run.storedScopes());
    }
    summary.status = summary.errors.length ? 'partial' : 'completed';
  } catch (error) {
    summary.status = 'failed';
    summary.errors.push((error as Error).message);
    throw error;
  } finally {
    const finished = deps.clock.now();
    Object.assign(summary, { finishedAt: finished.toISOString(), durationMs: finished.getTime() - started.getTime() });
    await running.catch(() => undefined);
    await deps.sweeps.record(summary);
    for (const [{ vaultUri, keyName, keyVersion }, accounts] of run.versionsInUse()) log.event('sweep.key-version', { sweepId, vaultUri, keyName, keyVersion, accounts });
    const { critical, warning, info } = summary.findingsBySeverity;
    log.event('sweep.done', {
      sweepId, trigger, mode: summary.mode, status: summary.status, accounts: summary.accountsSeen, keys: summary.keysRead, critical, warning, info,
      findingsByCode: summary.findingsByCode, remediations: summary.remediationsQueued, errors: summary.errors.length, durationMs: summary.durationMs,
    });
  }
  return summary;
}

interface KeyState {
  reader: KeyReader;
  /** Bindings whose version nears expiry with nothing newer to bind (NEAR_EXPIRY_ACTION=rotate). */
  nearExpiry: Target[];
  failed?: string;
}

/** One binding the sweep judges: an account's own, or one of its encryption scopes', with its key. */
interface Target extends BoundTarget {
  account: AccountState;
  key: KeyState;
}

class SweepRun {
  /** Compares with the stored verdicts, which are still being read while the first pages are judged. */
  private writer!: VerdictWriter;
  /** The scope index as it was (ENCRYPTION_SCOPES=on). */
  private scopes: Promise<StoredScopes> = Promise.resolve(new Map());
  pins = new Map<string, Pin>();
  private pinsRead: Promise<void> = Promise.resolve();
  readonly seen = new Set<string>();
  /** Bindings judged per key version (vault host, key name and version in lower case). */
  private readonly versions = new Map<string, { binding: KeyBinding; accounts: number }>();
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

  /** Starts the reads every page needs (pins, stored verdicts, the scope index); the first page waits only for the pins. */
  prepare(): void {
    const stored = this.deps.findings.verdicts();
    stored.catch(() => undefined);
    this.writer = new VerdictWriter(this.deps.findings, stored, { sweepId: this.sweepId, observedAt: this.now.toISOString() });
    this.scopes = this.deps.scopeIndex?.stored() ?? Promise.resolve(new Map());
    this.scopes.catch(() => undefined);
    this.pinsRead = this.deps.pins.list().then((pins) => {
      this.pins = new Map(pins.map((p) => [bindingKey(p.accountId, p.encryptionScope), p]));
    });
    this.pinsRead.catch(() => undefined);
  }

  storedScopes(): Promise<StoredScopes> {
    return this.scopes;
  }

  /** The stored verdicts, once every write that waited for them is done. */
  async storedVerdicts(): Promise<StoredVerdicts> {
    const verdicts = await this.writer.storedVerdicts();
    await this.writer.settle();
    return verdicts;
  }

  async page(accounts: AccountState[]): Promise<void> {
    const drifting: Target[] = [];
    const eligible = accounts.filter((a) => cmkBindings(a).length > 0 && !optedOut(a, this.deps.optOutTag));
    // Every key, bound version and vault the page names is read at once (each once), not as the lanes reach them.
    for (const account of eligible) {
      for (const { holder } of cmkBindings(account)) {
        const key = this.key(holder.binding);
        if (!key.failed) key.reader.view(holder.binding.keyVersion).catch(() => undefined);
        this.vault(holder.binding.vaultUri).catch(() => undefined);
      }
    }
    await this.pinsRead;
    await this.writer.beforePage();
    await forEachLimited(eligible, CONCURRENCY, async (account) => {
      this.summary.accountsSeen += 1;
      this.seen.add(accountKey(account.id));
      const judged = await this.judge(account);
      if (this.deps.scopeIndex) await this.deps.scopeIndex.record(account, (await this.scopes).get(accountKey(account.id)) ?? new Map());
      if (!judged || this.deps.sweepMode !== 'enforce') return;
      for (const { target, findings } of judged) {
        if (this.pins.has(bindingKey(account.id, target.scope?.name))) continue;
        if (findings.some((f) => f.code === 'version-drift')) drifting.push(target);
        else if (findings.some((f) => f.code === 'versionless-binding')) await this.leaveVersionless(target);
        else if (findings.some((f) => f.code === 'key-near-expiry')) await this.nearExpiry(target);
      }
    });
    await this.repair(drifting);
  }

  /** The findings of an account and its scopes, stored together only when they changed; undefined when a key could not be read. */
  private async judge(account: AccountState): Promise<Array<{ target: Target; findings: Finding[] }> | undefined> {
    const judged: Array<{ target: Target; findings: Finding[] }> = [];
    for (const bound of cmkBindings(account)) {
      this.countVersion(bound.holder.binding);
      const target: Target = { ...bound, account, key: this.key(bound.holder.binding) };
      const view = await this.view(target);
      if (!view) return undefined;
      const vault = await this.vault(bound.holder.binding.vaultUri);
      let grants;
      try {
        // The account's identity reads the scope's key too, with the scope's identityClientId.
        grants = vault.status === 'ok' ? await this.grants.forAccount({ ...account, binding: bound.holder.binding }, vault.vault) : undefined;
      } catch (error) {
        if (!(error instanceof DependencyError)) throw error;
        this.summary.errors.push(`role assignments for ${account.name} in ${bound.holder.binding.vaultUri}: ${error.message}`);
        return undefined;
      }
      const input = {
        account, pin: this.pins.get(bindingKey(account.id, target.scope?.name)), key: view, vault, grants,
        policy: this.deps.policy, nearExpiryDays: this.deps.nearExpiryDays, now: this.now,
      };
      judged.push({ target, findings: target.scope ? evaluateScope(input, target.scope) : evaluateAccount(input) });
    }
    const findings = judged.flatMap((j) => j.findings);
    await this.writer.record(account.id, findings);
    for (const f of findings) {
      this.summary.findingsByCode[f.code] = (this.summary.findingsByCode[f.code] ?? 0) + 1;
      this.summary.findingsBySeverity[f.severity as Severity] = (this.summary.findingsBySeverity[f.severity] ?? 0) + 1;
      if (f.severity === 'critical') {
        this.log.event('finding.critical', { sweepId: this.sweepId, accountId: account.id, accountName: account.name, encryptionScope: f.encryptionScope, code: f.code, remedy: f.remedy });
      }
    }
    return judged;
  }

  /** What the sweep read of a binding's key; undefined (and the run partial) when Key Vault could not be read. */
  private async view(target: Target): Promise<KeyView | undefined> {
    const { key } = target;
    try {
      if (key.failed) return undefined;
      return await key.reader.view(target.holder.binding.keyVersion);
    } catch (error) {
      if (!(error instanceof DependencyError)) throw error;
      if (!key.failed) this.summary.errors.push(`key ${key.reader.keyName} in ${key.reader.vaultUri}: ${error.message}`);
      key.failed = error.message;
      return undefined;
    }
  }

  /** Enforce mode: drift seen in discovery is confirmed through ARM (Resource Graph lags) before a repair is queued. */
  private async repair(drifting: Target[]): Promise<void> {
    const confirmed: Array<{ target: Target; version: string }> = [];
    await forEachLimited(drifting, CONCURRENCY, async (target) => {
      const { account, scope, key } = target;
      const read = scope ? this.deps.accounts.getEncryptionScope(account.id, scope.name) : this.deps.accounts.getAccount(account.id);
      const [now, newest] = await Promise.all([read, key.reader.newestUsable()]);
      if (newest && now?.binding?.keyVersion.toLowerCase() === target.holder.binding.keyVersion.toLowerCase()) confirmed.push({ target, version: newest.version });
    });
    for (const { target, version } of confirmed) await this.queue([target], target.key, version);
  }

  /** Enforce mode leaves a versionless binding alone and says so: its job records skipped, versionless (§2a); not a repair. */
  private async leaveVersionless(target: Target): Promise<void> {
    const newest = await target.key.reader.newestUsable();
    if (newest) await this.queue([target], target.key, newest.version, false);
  }

  private async nearExpiry(target: Target): Promise<void> {
    const { key } = target;
    const view = await key.reader.view(target.holder.binding.keyVersion);
    if (view.status !== 'ok' || !view.bound) return;
    if (rotationHelps(view.bound, this.deps.nearExpiryDays, this.now)) key.nearExpiry.push(target);
    else this.log.event('key.not-rotated', { sweepId: this.sweepId, accountId: target.account.id, keyName: key.reader.keyName, version: target.holder.binding.keyVersion });
  }

  /** After the last page: NEAR_EXPIRY_ACTION=rotate rotates each key at most once and binds the new version. */
  async finishKeys(): Promise<void> {
    for (const key of this.keys.values()) {
      if (!key.nearExpiry.length || this.deps.nearExpiryAction !== 'rotate') continue;
      try {
        const rotated = await this.deps.keys.rotateKey(key.reader.vaultUri, key.reader.keyName);
        this.log.event('key.rotated', { sweepId: this.sweepId, keyName: key.reader.keyName, version: rotated.version });
        await this.queue(key.nearExpiry, key, rotated.version);
      } catch (error) {
        if (!(error instanceof DependencyError)) throw error;
        this.summary.errors.push(`rotating key ${key.reader.keyName} in ${key.reader.vaultUri}: ${error.message}`);
      }
    }
  }

  private async queue(targets: Target[], key: KeyState, version: string, repair = true): Promise<void> {
    const createdAt = this.deps.clock.now().toISOString();
    await queueAccountJobs(targets.map(({ account, scope, holder }) => {
      const job: RebindJob = {
        kind: 'rebind', jobId: derivedId(this.sweepId, accountKey(account.id), version, ...(scope ? [scope.name] : [])), parentJobId: this.sweepId, trigger: 'sweep', createdAt,
        vaultUri: key.reader.vaultUri, keyName: key.reader.keyName, accountId: account.id, ...(scope ? { encryptionScope: scope.name } : {}),
        targetVersion: version, force: false, priorAttempts: 0,
      };
      return { job, account: holder };
    }), this.deps);
    if (repair) this.summary.remediationsQueued += targets.length;
  }

  private countVersion(b: KeyBinding): void {
    const id = `${vaultHost(b.vaultUri)}|${b.keyName}|${b.keyVersion}`.toLowerCase();
    const entry = this.versions.get(id) ?? { binding: b, accounts: 0 };
    entry.accounts += 1;
    this.versions.set(id, entry);
  }

  /** The key versions in use and how many bindings each has (a versionless binding counts under version ''). */
  versionsInUse(): Array<[KeyBinding, number]> {
    return [...this.versions.values()].map((v) => [v.binding, v.accounts]);
  }

  private key(b: KeyBinding): KeyState {
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

  private vault(uri: string): Promise<VaultView> {
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
