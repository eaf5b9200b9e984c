import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PUBLIC_ARM_LIMITS } from '../../shared/adapters/pacing';
import { SCOPE_LISTINGS_IN_FLIGHT } from '../../shared/adapters/scopeDiscovery';
import { accountResource, principalOf, stableGuid, vaultResource } from '../estate';
import { BenchRig, type CallCounts } from './rig';

/** One measured figure: the project's number, the bound from the same run, and what it means. */
export interface Figure {
  value: number;
  bound: number;
  unit: 'ms' | 'calls' | 'MiB';
  note: string;
}

/** The reads a rotation cannot do without: the account before, one operation poll, the operation's result. */
const MINIMAL_READS_PER_ACCOUNT = 3;

/** Seeds `count` accounts bound to v1 of a fresh key in `vault`, spread over the rig's subscriptions, with access to the key. */
async function seedKey(rig: BenchRig, keyName: string, count: number, prefix = keyName, vault = rig.vault): Promise<string> {
  const { version } = await vault.createKey(keyName, { publish: false, createdOn: new Date(Date.now() - 86_400_000) });
  for (let i = 0; i < count; i++) {
    const name = `${prefix}-${i}`;
    const subscriptionId = rig.subscriptions[i % rig.subscriptions.length];
    rig.arm.putAccount(accountResource({ name, key: { vaultUri: vault.vaultUri, name: keyName, version }, ...(subscriptionId ? { subscriptionId } : {}) }));
  }
  return version;
}

/** Each vault's ARM resource, granting the keys to every account bound to one of its keys. */
function putVaults(rig: BenchRig): void {
  const grants = new Map<string, string[]>();
  for (const account of rig.arm.accounts()) {
    const uri = String(account.properties?.encryption?.keyVaultProperties?.keyVaultUri ?? '');
    grants.set(uri, [...(grants.get(uri) ?? []), principalOf(String(account.name))]);
  }
  for (const vault of rig.vaults) rig.arm.putVault(vaultResource(vault, { grantKeysTo: grants.get(vault.vaultUri) ?? [] }));
}

/**
 * Figure 1: a new version of a key bound to `accounts` accounts, ARM's public limits on a clock `scale`
 * times faster. The bound is what the buckets allow: the writes (one PATCH each) or the minimal reads,
 * whichever takes longer from full buckets.
 */
export async function bulkRotation(accounts: number, scale: number): Promise<Figure & { failed: number; throttledWrites: number }> {
  const rig = await BenchRig.start({ latencyMs: 0, throttle: { timeScale: scale }, storageHop: false });
  try {
    await seedKey(rig, 'cmk-bulk', accounts, 'aoai');
    putVaults(rig);
    const started = Date.now();
    const { version } = await rig.vault.createKey('cmk-bulk');
    await rig.jobsFinished(accounts, 600_000);
    const elapsed = Date.now() - started;
    const rows = await rig.rowsTo(version);
    const { reads, writes } = PUBLIC_ARM_LIMITS;
    const drain = (calls: number, bucket: { burst: number; perSecond: number }) => Math.max(0, calls - bucket.burst) / (bucket.perSecond * scale) * 1000;
    const bound = Math.max(drain(accounts, writes), drain(accounts * MINIMAL_READS_PER_ACCOUNT, reads));
    const throttledWrites = rig.arm.requests.filter((r) => r.method === 'PATCH' && r.status === 429).length;
    const failed = rows.failed ?? 0;
    return { value: elapsed, bound, unit: 'ms', failed, throttledWrites, note: `rows ${JSON.stringify(rows)}` };
  } finally {
    await rig.stop();
  }
}

/** The hops from a Key Vault event to the PATCH that cannot run in parallel (each one remote call). */
export const EVENT_TO_PATCH_HOPS = [
  'webhook: queue the fan-out job',
  'host: receive the fan-out job',
  'fan-out: Resource Graph query',
  'fan-out: queue the rebind job',
  'host: receive the rebind job',
  'job: journal and pin (the key version and the vault alongside)',
  'job: the account, read after the journal',
  'job: lease and intent, one transaction',
  'job: PATCH',
] as const;

/** The calls one rotation of one account needs by design (DESIGN §1/§2, the journal's transactions, the preflight). */
export const CALLS_PER_ROTATION = [
  'queue: the fan-out job',
  'Resource Graph: accounts bound to the key',
  'Table: encryption scopes bound to the key (the index)',
  'queue: the rebind job',
  'Table: the job index row (GET /api/rotations/{jobId})',
  'Table: lease, row and pin, one query',
  'ARM: the account',
  'Key Vault: the target version',
  'ARM: the vault (preflight)',
  'Table: lease and intent, one transaction',
  'ARM: PATCH',
  'ARM: one operation poll',
  'ARM: the operation result (the read-back)',
  'Table: outcome and release, one transaction',
] as const;

/** shared/app.ts: the preflight reuses a vault read this long. */
const VAULT_READ_REUSE_MS = 10_000;

/**
 * Figures 2 and 3 on one rig, 20 ms per remote call: the calls one rotation makes, by service, and the
 * time from the event to the PATCH against the hops that cannot overlap. A first rotation warms the
 * clients (tokens, Key Vault's challenge, queue creation); the second is measured.
 */
export async function singleRotation(latencyMs: number): Promise<{ calls: CallCounts & { total: number }; eventToPatch: Figure }> {
  const rig = await BenchRig.start({ latencyMs, throttle: false, hostPollMs: 5 });
  try {
    await seedKey(rig, 'cmk-one', 1);
    putVaults(rig);
    await rig.vault.createKey('cmk-one');
    await rig.jobsFinished(1, 60_000);
    rig.resetFinished();
    // An event comes after a quiet spell: past the preflight's 10 s reuse of a vault read.
    await sleep(VAULT_READ_REUSE_MS + 500);
    const before = rig.calls();
    const started = Date.now();
    await rig.vault.createKey('cmk-one');
    await rig.jobsFinished(1, 60_000);
    const patch = rig.arm.requests.find((r) => r.method === 'PATCH' && r.at >= started);
    if (!patch) throw new Error('no PATCH reached ARM');
    const calls = callsSince(rig, before);
    const total = Object.values(calls).reduce((a, b) => a + b, 0);
    return {
      calls: { ...calls, total },
      eventToPatch: { value: patch.at - started, bound: EVENT_TO_PATCH_HOPS.length * latencyMs, unit: 'ms', note: `${EVENT_TO_PATCH_HOPS.length} hops x ${latencyMs} ms` },
    };
  } finally {
    await rig.stop();
  }
}

const GRAPH_PAGE = 1_000;

/**
 * Figure 4: a report-mode sweep of `accounts` accounts over `keys` keys in `subscriptions` subscriptions, with or without
 * encryption scopes (ENCRYPTION_SCOPES: with them, one ARM listing per account, which the bound counts too), half
 * of them drifting (so findings exist), 20 ms per call; the second sweep is measured (the first stores the
 * verdicts). The paging bound: Resource Graph's pages one after another, plus one round trip to read the keys
 * and one to record the run. Peak RSS is the high-water mark of a fresh worker process that ran the measured sweep;
 * its live heap, the JavaScript heap in use after a full collection once the sweep has ended.
 */
export async function sweep(accounts: number, keys: number, subscriptions: number, latencyMs: number, scopes: 'on' | 'off'): Promise<Figure & { rssMiB: number; liveMiB: number }> {
  // Subscription ids are random GUIDs in Azure.
  const subs = Array.from({ length: subscriptions }, (_, i) => stableGuid(`bench-subscription-${i}`));
  // Two keys per vault: at 10,000 accounts a vault's access policies stay within Key Vault's 1,024.
  const rig = await BenchRig.start({ latencyMs, throttle: false, subscriptions: subs, vaults: Math.ceil(keys / 2), settings: { ENCRYPTION_SCOPES: scopes } });
  try {
    const perKey = Math.ceil(accounts / keys);
    for (let k = 0; k < keys; k++) {
      const vault = rig.vaults[Math.floor(k / 2)];
      await seedKey(rig, `cmk-${k}`, Math.min(perKey, accounts - k * perKey), `aoai-k${k}`, vault);
      // Every other key has a newer version: the accounts bound to it drift, the others are compliant.
      if (k % 2 === 0) await vault?.createKey(`cmk-${k}`, { publish: false });
    }
    putVaults(rig);
    await rig.runSweep();
    // Steady sweeps in a fresh worker: its peak memory is theirs, not the first run's that stored every verdict;
    // the first of them warms its clients (tokens, Key Vault's challenge, the SDKs loaded on first use).
    await rig.freshWorker();
    await rig.runSweep();
    const before = rig.calls();
    // From the request to the sweep's result; the run before it has ended (its lock released) by then.
    const { tookMs: elapsed } = await rig.runSweep();
    const pages = Math.ceil(accounts / GRAPH_PAGE);
    // With scopes, each account's listing too, SCOPE_LISTINGS_IN_FLIGHT at a time.
    const listings = scopes === 'on' ? Math.ceil(accounts / SCOPE_LISTINGS_IN_FLIGHT) : 0;
    // The peak first: a full collection allocates too.
    const rssMiB = peakRssMiB(rig.worker.pid);
    const liveMiB = await rig.worker.liveHeapMiB();
    return { value: elapsed, bound: (pages + 2 + listings) * latencyMs, unit: 'ms', rssMiB, liveMiB, note: `calls ${JSON.stringify(callsSince(rig, before))}` };
  } finally {
    await rig.stop();
  }
}

function callsSince(rig: BenchRig, before: CallCounts): CallCounts {
  const now = rig.calls();
  return { arm: now.arm - before.arm, resourceGraph: now.resourceGraph - before.resourceGraph, keyVault: now.keyVault - before.keyVault, table: now.table - before.table, queue: now.queue - before.queue };
}

/** VmHWM of a live process (Linux). */
function peakRssMiB(pid: number): number {
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return hwm?.[1] ? Number(hwm[1]) / 1024 : Number.NaN;
}

/** Figure 5: requiring every function module vs requiring bare @azure/functions, median of `runs` fresh processes. */
export function coldStart(distRoot: string, runs: number): Figure {
  const functionsDir = join(distRoot, 'functions');
  const entries = readdirSync(functionsDir).filter((f) => f.endsWith('.js')).map((f) => join(functionsDir, f));
  const probe = (requires: string): number => {
    const script = `const t = process.hrtime.bigint(); ${requires}; process.stdout.write(String(Number(process.hrtime.bigint() - t) / 1e6));`;
    return Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  };
  // What the host loads before the first invocation: every registration module (the settings are checked in the
  // appStart hook after it; test/unit/coldStart.test.ts checks that this loads no SDK).
  const app = entries.map((e) => `require(${JSON.stringify(e)})`).join(';');
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const bare: number[] = [];
  const full: number[] = [];
  for (let i = 0; i < runs; i++) {
    bare.push(probe("require('@azure/functions')"));
    full.push(probe(app));
  }
  return { value: median(full), bound: median(bare), unit: 'ms', note: `median of ${runs} fresh processes each` };
}
