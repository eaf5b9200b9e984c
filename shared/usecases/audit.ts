import { randomUUID } from 'node:crypto';
import type { FindingRecord, SweepSummary } from '../domain/findings';
import type { AccountState } from '../domain/model';
import type { AccountDiscovery, AccountStore, Clock, FindingStore, JobQueue, KeyStore, Ledger, Logger, PinStore, RoleGrantReader, RotationClaims, SweepStore, VaultDirectory } from '../ports';
import type { KeyPolicy } from '../domain/keys';
import type { TelemetryEvent } from '../telemetry/catalogue';
import { runSweep } from './sweep';

/** Where the audit keeps its verdicts and what refuses every write: in memory, composed by the caller. */
export interface AuditStores {
  findings: FindingStore;
  sweeps: SweepStore;
  pins: PinStore;
  ledger: Ledger;
  queue: JobQueue;
  rotationClaims: RotationClaims;
}

interface AuditDeps {
  discovery: AccountDiscovery;
  /** Read-only views: the audit never changes an account or a key. */
  accounts: AccountStore;
  keys: KeyStore;
  stores: AuditStores;
  vaultDirectory: () => VaultDirectory;
  /** Role assignments and definitions of RBAC vaults and Managed HSMs: reads, as the access proof needs them. */
  roleGrants: () => RoleGrantReader;
  isAllowedVault: (vaultUri: string) => boolean;
  policy: KeyPolicy;
  clock: Clock;
  nearExpiryDays: number;
  optOutTag: string;
}

/** What the audit tells while it runs (the CLI's progress display). */
export interface AuditWatcher {
  discovered?(accounts: number): void;
  discoveryDone?(): void;
  /** Once per account judged. */
  judged?(): void;
  event?(event: TelemetryEvent): void;
}

export interface VersionInUse {
  vaultUri: string;
  keyName: string;
  /** '' for versionless bindings. */
  keyVersion: string;
  accounts: number;
}

export interface AuditReport {
  summary: SweepSummary;
  findings: Array<FindingRecord & { accountName: string }>;
  versions: VersionInUse[];
}

/**
 * The compliance sweep, read-only: the sweep's own run (discovery, key and vault reads, the domain's judging) in
 * report mode over stores that keep the verdicts in memory and refuse every write. No storage, queue or PATCH.
 */
export async function runAudit(deps: AuditDeps, watch: AuditWatcher = {}): Promise<AuditReport> {
  const names = new Map<string, string>();
  const versions: VersionInUse[] = [];
  const log: Logger = {
    event(name, fields) {
      watch.event?.({ event: name, fields });
      if (name !== 'sweep.key-version') return;
      const f = fields as Record<string, unknown>;
      versions.push({ vaultUri: String(f.vaultUri), keyName: String(f.keyName), keyVersion: String(f.keyVersion ?? ''), accounts: Number(f.accounts) });
    },
  };
  const summary = await runSweep(`audit-${randomUUID()}`, 'manual', {
    discovery: watched(deps.discovery, names, watch),
    accounts: deps.accounts,
    keys: deps.keys,
    vaultDirectory: deps.vaultDirectory,
    roleGrants: deps.roleGrants,
    isAllowedVault: deps.isAllowedVault,
    policy: deps.policy,
    clock: deps.clock,
    nearExpiryDays: deps.nearExpiryDays,
    optOutTag: deps.optOutTag,
    onJudged: () => watch.judged?.(),
    ...deps.stores,
    newId: randomUUID,
    sweepMode: 'report',
    nearExpiryAction: 'notify',
  }, log);
  return {
    summary,
    findings: (await deps.stores.findings.list()).map((f) => ({ ...f, accountName: names.get(f.accountId.toLowerCase()) ?? f.accountId.split('/').pop() ?? f.accountId })),
    versions,
  };
}

/** Discovery as it is, with each page counted and each account's name kept for the report. */
function watched(discovery: AccountDiscovery, names: Map<string, string>, watch: AuditWatcher): AccountDiscovery {
  return {
    boundTo: (key) => discovery.boundTo(key),
    async *cmkAccounts(): AsyncIterable<AccountState[]> {
      for await (const page of discovery.cmkAccounts()) {
        for (const a of page) names.set(a.id.toLowerCase(), a.name);
        watch.discovered?.(page.length);
        yield page;
      }
      watch.discoveryDone?.();
    },
  };
}
