import { vaultHost } from '../../../shared/domain/keys';
import type { Clock, Logger } from '../../../shared/ports';
import type { ManualDeps } from '../../../shared/usecases/manual';
import type { RebindDeps } from '../../../shared/usecases/rebind';
import type { SweepDeps } from '../../../shared/usecases/sweep';
import { levelOf, type EventName, type Level } from '../../../shared/telemetry/catalogue';
import { FakeRoleGrants, FakeVaultDirectory } from './access';
import { FakeAccountStore, FakeDiscovery } from './accountStore';
import { MemoryFindings, MemoryRotationClaims, MemorySweeps } from './compliance';
import { MemoryLedger, MemoryPins, MemoryQueue } from './journal';
import { FakeKeyStore } from './keyStore';

/** A clock that moves only when a test sets it or moves it on. */
export function fixedClock(iso = '2026-06-01T00:00:00Z'): Clock & { set(iso: string): void; advance(ms: number): void } {
  let now = new Date(iso);
  return { now: () => new Date(now), set: (next: string) => (now = new Date(next)), advance: (ms: number) => (now = new Date(now.getTime() + ms)) };
}

/** A Logger that keeps each event with the level it would be logged at. */
export function silentLogger(): Logger & { lines: Array<{ level: Level; event: EventName; fields: Record<string, unknown> }> } {
  const lines: Array<{ level: Level; event: EventName; fields: Record<string, unknown> }> = [];
  return {
    lines,
    event: (event, fields) => void lines.push({ level: levelOf(event, fields), event, fields }),
  };
}

export function rebindDeps(over: Partial<RebindDeps> = {}): RebindDeps & {
  keys: FakeKeyStore; accounts: FakeAccountStore; journal: MemoryLedger; ledger: MemoryLedger; pins: MemoryPins; queue: MemoryQueue;
  vaults: FakeVaultDirectory; grants: FakeRoleGrants; rotationClaims: MemoryRotationClaims;
} {
  const clock = over.clock ?? fixedClock();
  const pins = over.pins instanceof MemoryPins ? over.pins : new MemoryPins();
  const ledger = new MemoryLedger(clock, pins);
  const grants = new FakeRoleGrants();
  return {
    vaults: new FakeVaultDirectory(),
    grants,
    roleGrants: () => grants,
    keys: new FakeKeyStore(),
    accounts: new FakeAccountStore(),
    journal: ledger,
    ledger,
    pins,
    queue: new MemoryQueue(),
    rotationClaims: new MemoryRotationClaims(clock),
    clock,
    policy: { allowedKeySizes: [2048], expiryMarginMs: 24 * 3_600_000 },
    leaseTtlMs: 60_000,
    newId: (() => {
      let n = 0;
      return () => `id-${++n}`;
    })(),
    retry: { baseMs: 1_000, maxMs: 60_000, maxAttempts: 5 },
    settle: { reads: 2, delayMs: 1 },
    sleep: async () => undefined,
    optOutTag: 'cmk-rotator:opt-out',
    ...over,
  } as never;
}

/**
 * Everything fan-out, the sweep and manual requests take, over one fake estate: rebindDeps, discovery over its
 * account store (`pageSize` accounts a page), findings and sweeps in memory, vaults allowed under .vault.azure.net.
 */
export function estateDeps(over: Partial<ManualDeps & SweepDeps> = {}, pageSize?: number): ReturnType<typeof rebindDeps> & ManualDeps & SweepDeps & {
  discovery: FakeDiscovery; findings: MemoryFindings; sweeps: MemorySweeps;
} {
  const deps = rebindDeps(over);
  return {
    ...deps,
    discovery: new FakeDiscovery(deps.accounts, pageSize),
    findings: new MemoryFindings(),
    sweeps: new MemorySweeps(deps.clock),
    vaultDirectory: () => deps.vaults,
    nearExpiryDays: 30,
    optOutTag: 'cmk-rotator:opt-out',
    isAllowedVault: (uri: string) => vaultHost(uri).endsWith('.vault.azure.net'),
    sweepMode: 'report',
    nearExpiryAction: 'notify',
    ...over,
  } as never;
}
