import { accountKey } from '../domain/accounts';
import { bindingFindings, evaluateAccount, SEVERITIES, type BindingEvaluation, type Finding, type KeyView, type Severity, type SweepSummary, type SweepTrigger, type VaultView } from '../domain/findings';
import { vaultHost } from '../domain/keys';
import type { AccountState, KeyBinding } from '../domain/model';
import type { Pin } from '../domain/rebind';
import { bindingKey, cmkBindings, evaluateScope, type BoundTarget } from '../domain/scopes';
import type { SweepMode } from '../config';
import { DependencyError } from '../errors';
import type { Logger, PinStore, RoleGrantReader, ScopeIndex, StoredScopes, SweepStore, VaultDirectory } from '../ports';
import { forEachLimited, readAhead } from '../concurrency';
import { VerdictWriter } from './verdictWriter';
import { optedOut } from './bindingDiscovery';
import type { FanOutDeps } from './fanOut';
import { GrantReads } from './keyAccess';
import { KeyReader } from './keyViews';
import { SweepRepairs, type SweepKey, type SweepRepairDeps, type SweepTarget } from './sweepRepairs';

export interface SweepDeps
  extends Pick<FanOutDeps, 'discovery' | 'keys' | 'findings' | 'ledger' | 'queue' | 'clock' | 'newId' | 'optOutTag' | 'policy' | 'nearExpiryDays'>, SweepRepairDeps {
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
  /** Called once per account judged (the audit's progress). */
  onJudged?: () => void;
}

/** Accounts judged at once. */
const CONCURRENCY = 32;
/** Discovery pages read ahead of the one judged: the first waits for its keys, and paging goes on meanwhile. */
const PAGES_AHEAD = 2;

/**
 * The compliance sweep: stream the CMK-bound accounts page by page, read each key and vault once, write only
 * the verdicts that changed, and in enforce mode queue the repairs. Memory holds a page, the stored verdicts of a
 * few pages, the keys of the accounts seen and one reader per key, not the estate. A run that could not read
 * everything is partial, never healthy.
 *
 * `mayWrite` says whether the run is this one's to make (its lock taken): the first reads go out while it is
 * asked, nothing is written before it answers, and on false the run ends there, having written nothing. Once
 * `lockLost` is aborted (another sweep took the lock) the run fails with its reason before its next step.
 */
export function runSweep(sweepId: string, trigger: SweepTrigger, deps: SweepDeps, log: Logger): Promise<SweepSummary>;
export function runSweep(sweepId: string, trigger: SweepTrigger, deps: SweepDeps, log: Logger, mayWrite: Promise<boolean>, lockLost?: AbortSignal): Promise<SweepSummary | undefined>;
export async function runSweep(
  sweepId: string, trigger: SweepTrigger, deps: SweepDeps, log: Logger, mayWrite: Promise<boolean> = Promise.resolve(true), lockLost?: AbortSignal,
): Promise<SweepSummary | undefined> {
  const started = deps.clock.now();
  const summary: SweepSummary = {
    sweepId, trigger, mode: deps.sweepMode, status: 'running', startedAt: started.toISOString(),
    accountsSeen: 0, keysRead: 0, findingsByCode: {}, findingsBySeverity: {}, remediationsQueued: 0, errors: [],
  };
  const run = new SweepRun(sweepId, deps, log, summary);
  // Discovery's first pages are read while the pins and vaults are, and the next ones while one is judged.
  const pages = readAhead(deps.discovery.cmkAccounts(), PAGES_AHEAD)[Symbol.asyncIterator]();
  run.prepare();
  if (!(await mayWrite)) return undefined;
  // The running row is written while the first reads are made; the last row waits for it, so it is never overwritten.
  const running = deps.sweeps.record(structuredClone(summary));
  running.catch(() => undefined);
  try {
    let complete = true;
    for (;;) {
      // A run whose lock another sweep took stops before its next page: one sweep at a time.
      lockLost?.throwIfAborted();
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
    lockLost?.throwIfAborted();
    await run.repairs.finishKeys();
    // Only a complete discovery may say that an account not seen is no longer CMK-bound; accounts seen but not
    // judged (their key could not be read) keep their last findings. Either way every waiting write is done here.
    if (complete) {
      lockLost?.throwIfAborted();
      await deps.findings.removeVerdicts(await run.writer.leftOver());
      await deps.scopeIndex?.removeAccountsNotIn(run.writer.seen, await run.storedScopes());
    } else {
      await run.writer.settle();
    }
    summary.status = summary.errors.length ? 'partial' : 'completed';
  } catch (error) {
    summary.status = 'failed';
    summary.errors.push((error as Error).message);
    throw error;
  } finally {
    const finished = deps.clock.now();
    Object.assign(summary, { finishedAt: finished.toISOString(), durationMs: finished.getTime() - started.getTime() });
    // The last row replaces a running row Table Storage did not take; a bug in writing it fails the run, and goes
    // up once the last row and sweep.done are written (after the run's own error, when it has one).
    const runningBug = await running.then(() => undefined, (error: unknown) => (error instanceof DependencyError ? undefined : error));
    const bug = runningBug !== undefined && summary.status !== 'failed';
    if (runningBug !== undefined) {
      summary.errors.push(`writing the running row: ${runningBug instanceof Error ? runningBug.message : String(runningBug)}`);
      summary.status = 'failed';
    }
    await deps.sweeps.record(summary);
    for (const [{ vaultUri, keyName, keyVersion }, accounts] of run.versionsInUse()) log.event('sweep.key-version', { sweepId, vaultUri, keyName, keyVersion, accounts });
    const { critical, warning, info } = summary.findingsBySeverity;
    log.event('sweep.done', {
      sweepId, trigger, mode: summary.mode, status: summary.status, accounts: summary.accountsSeen, keys: summary.keysRead, critical, warning, info,
      findingsByCode: summary.findingsByCode, remediations: summary.remediationsQueued, errors: summary.errors.length, durationMs: summary.durationMs,
      ...(summary.errors[0] ? { firstError: summary.errors[0] } : {}),
    });
    // eslint-disable-next-line no-unsafe-finally -- the run itself succeeded; the bug must not pass as a result
    if (bug) throw runningBug;
  }
  return summary;
}

/** A binding as accounts write it: its key, its count among the versions in use, and its findings (fixed for the run). */
interface WrittenBinding {
  binding: KeyBinding;
  key: SweepKey;
  counted: { binding: KeyBinding; accounts: number };
  findings: { pinned?: Finding[]; unpinned?: Finding[] };
}

/** A vault a passing fault kept the run from reading: its accounts are not judged. */
interface UnreadVault {
  status: 'unread';
}

function getOrSet<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) map.set(key, (value = make()));
  return value;
}

class SweepRun {
  /** Compares with the stored verdicts, read beside discovery in account order. */
  readonly writer: VerdictWriter;
  /** The scope index as it was (ENCRYPTION_SCOPES=on). */
  private scopes: Promise<StoredScopes> = Promise.resolve(new Map());
  pins = new Map<string, Pin>();
  private pinsRead: Promise<void> = Promise.resolve();
  /** Bindings judged per key version (vault host, key name and version in lower case). */
  private readonly versions = new Map<string, { binding: KeyBinding; accounts: number }>();
  private readonly keys = new Map<string, SweepKey>();
  /** Each binding as written, by vault URI, key name and version. */
  private readonly writtenBindings = new Map<string, Map<string, Map<string, WrittenBinding>>>();
  private readonly vaultViews = new Map<string, Promise<VaultView | UnreadVault>>();
  private readonly vaults: VaultDirectory;
  private readonly grants: GrantReads;
  private readonly now: Date;
  readonly repairs: SweepRepairs;

  constructor(
    private readonly sweepId: string,
    private readonly deps: SweepDeps,
    private readonly log: Logger,
    private readonly summary: SweepSummary,
  ) {
    this.vaults = deps.vaultDirectory();
    this.grants = new GrantReads(deps.roleGrants());
    this.now = deps.clock.now();
    this.repairs = new SweepRepairs(sweepId, deps, log, summary, this.now);
    this.writer = new VerdictWriter(deps.findings, { sweepId, observedAt: this.now.toISOString() });
    for (const severity of SEVERITIES) summary.findingsBySeverity[severity] = 0;
  }

  /** Starts the reads every page needs (pins, the vault listings, the scope index); the first page waits only for the pins. */
  prepare(): void {
    this.vaults.prepare?.();
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

  async page(accounts: AccountState[]): Promise<void> {
    const eligible: Array<{ account: AccountState; bound: BoundTarget[]; key: string }> = [];
    const inPage = new Set<string>();
    for (const account of accounts) {
      const bound = cmkBindings(account);
      if (bound.length === 0 || optedOut(account, this.deps.optOutTag)) continue;
      const key = accountKey(account.id);
      // An account discovery answers again (a subscription listed twice, a page re-read) is judged and counted once.
      if (this.writer.seen.has(key) || inPage.has(key)) continue;
      inPage.add(key);
      eligible.push({ account, bound, key });
      // Every key, bound version and vault the page names is read at once (each once), not as the lanes reach them.
      for (const { holder } of bound) {
        const { key } = this.written(holder.binding);
        if (!key.failed) key.reader.view(holder.binding.keyVersion).catch(() => undefined);
        this.vault(holder.binding.vaultUri).catch(() => undefined);
      }
    }
    await this.writer.beforePage(eligible.map(({ key }) => key));
    await this.pinsRead;
    await forEachLimited(eligible, CONCURRENCY, async ({ account, bound, key }) => {
      this.summary.accountsSeen += 1;
      const judged = await this.judge(account, bound, key);
      if (this.deps.scopeIndex) await this.deps.scopeIndex.record(account, (await this.scopes).get(key) ?? new Map());
      if (!judged || this.deps.sweepMode !== 'enforce') return;
      for (const { target, findings } of judged) {
        if (!this.pins.has(bindingKey(account.id, target.scope?.name))) await this.repairs.consider(target, findings);
      }
    });
    await this.repairs.repairDrift();
  }

  /** The findings of an account and its scopes, stored together only when they changed; undefined when a key could not be read. */
  private async judge(account: AccountState, bindings: BoundTarget[], key: string): Promise<Array<{ target: SweepTarget; findings: Finding[] }> | undefined> {
    const judged: Array<{ target: SweepTarget; findings: Finding[] }> = [];
    for (const bound of bindings) {
      const { binding } = bound.holder;
      const written = this.written(binding);
      written.counted.accounts += 1;
      const target: SweepTarget = { ...bound, account, key: written.key };
      const view = await this.view(target);
      if (!view) return undefined;
      const vault = await this.vault(binding.vaultUri);
      // A passing fault (5xx, a reset, throttling) left the vault unread: like a key that could not be read, its
      // accounts go unjudged and keep their last findings, rather than lose what the vault's checks found.
      if (vault.status === 'unread') return undefined;
      let grants;
      try {
        // The account's identity reads the scope's key too, with the scope's identityClientId.
        grants = vault.status === 'ok' ? await this.grants.forAccount(account, vault.vault, binding) : undefined;
      } catch (error) {
        if (!(error instanceof DependencyError)) throw error;
        this.summary.errors.push(`role assignments for ${account.name} in ${bound.holder.binding.vaultUri}: ${error.message}`);
        return undefined;
      }
      const pin = this.pins.size > 0 ? this.pins.get(bindingKey(account.id, target.scope?.name)) : undefined;
      const input = { account, pin, key: view, vault, grants, policy: this.deps.policy, nearExpiryDays: this.deps.nearExpiryDays, now: this.now };
      judged.push({ target, findings: target.scope ? evaluateScope(input, target.scope) : evaluateAccount(input, this.bindingVerdict(written, input)) });
    }
    const findings = judged.flatMap((j) => j.findings);
    this.deps.onJudged?.();
    await this.writer.record(account.id, findings, key);
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
  private async view(target: SweepTarget): Promise<KeyView | undefined> {
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

  /** bindingFindings once per binding as written and pin state: the accounts bound alike share them. */
  private bindingVerdict(written: WrittenBinding, input: Omit<BindingEvaluation, 'binding' | 'pinned'> & { pin: Pin | undefined }): Finding[] {
    const pinned = !!input.pin;
    return (written.findings[pinned ? 'pinned' : 'unpinned'] ??= bindingFindings({ ...input, binding: written.binding, pinned }));
  }

  /**
   * What the run keeps of a binding as written (vault URI, key name, version, in the account's spelling): found
   * without building a key string for each of the thousands of accounts that share it.
   */
  private written(binding: KeyBinding): WrittenBinding {
    const byName = getOrSet(this.writtenBindings, binding.vaultUri, () => new Map<string, Map<string, WrittenBinding>>());
    const byVersion = getOrSet(byName, binding.keyName, () => new Map<string, WrittenBinding>());
    return getOrSet(byVersion, binding.keyVersion, () => {
      const id = `${vaultHost(binding.vaultUri)}|${binding.keyName}|${binding.keyVersion}`.toLowerCase();
      return { binding, key: this.key(binding), counted: getOrSet(this.versions, id, () => ({ binding, accounts: 0 })), findings: {} };
    });
  }

  /** The key versions in use and how many bindings each has (a versionless binding counts under version ''). */
  versionsInUse(): Array<[KeyBinding, number]> {
    return [...this.versions.values()].map((v) => [v.binding, v.accounts]);
  }

  private key(b: KeyBinding): SweepKey {
    const id = `${vaultHost(b.vaultUri)}|${b.keyName.toLowerCase()}`;
    let key = this.keys.get(id);
    if (!key) {
      key = { reader: new KeyReader(this.deps.keys, b.vaultUri, b.keyName, this.deps.policy, this.now) };
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

  /**
   * The vault as ARM lists it, once per run. A refusal (403: the discovery reader role missing) is the account's
   * vault-unreadable finding; a passing fault is an error of the run, and the vault's accounts are left unjudged.
   */
  private vault(uri: string): Promise<VaultView | UnreadVault> {
    const host = vaultHost(uri);
    let view = this.vaultViews.get(host);
    if (!view) {
      view = this.vaults.findVault(uri).then(
        (vault): VaultView => (vault ? { status: 'ok', vault } : { status: 'not-found' }),
        (error: unknown): VaultView | UnreadVault => {
          if (!(error instanceof DependencyError)) throw error;
          if (!error.retryable) return { status: 'error', reason: error.message };
          this.summary.errors.push(`vault ${uri}: ${error.message} (its accounts unchecked)`);
          return { status: 'unread' };
        },
      );
      this.vaultViews.set(host, view);
    }
    return view;
  }
}
