import { join } from 'node:path';
import { out, table } from '../print';
import { bulkRotation, CALLS_PER_ROTATION, coldStart, EVENT_TO_PATCH_HOPS, singleRotation, sweep, type Figure } from './figures';

// npm run bench: the service on the local stack, the stand-ins in their own process, each figure repeated
// and printed with the bound measured in the same run. A benchmark, not a test: it asserts nothing.
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 1_000);
const SWEEP_ACCOUNTS = Number(process.env.BENCH_SWEEP_ACCOUNTS ?? 10_000);
const LATENCY_MS = 20;

interface Row {
  figure: string;
  runs: string[];
  goal: string;
  /** Absent for a figure that explains another and has no goal of its own. */
  met?: boolean;
}

const ratio = (f: Figure): number => f.value / f.bound;
const fmt = (f: Figure): string => `${Math.round(f.value)}/${Math.round(f.bound)} ${f.unit} = ${ratio(f).toFixed(2)}x`;

async function repeat<T>(what: string, run: () => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < REPEATS; i++) {
    process.stderr.write(`${what}: run ${i + 1} of ${REPEATS}\n`);
    results.push(await run());
  }
  return results;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const details: string[] = [];

  for (const scale of [3, 10]) {
    const runs = await repeat(`${ACCOUNTS} accounts at ${scale}x`, () => bulkRotation(ACCOUNTS, scale));
    rows.push({
      figure: `1. ${ACCOUNTS} accounts, one key, limits x${scale}: to all verified / bucket bound`,
      runs: runs.map((r) => `${fmt(r)}, ${r.failed} failed, ${r.throttledWrites} PATCH 429s`),
      goal: '<= 1.2x, 0 failed',
      met: runs.every((r) => ratio(r) <= 1.2 && r.failed === 0),
    });
    details.push(...runs.map((r) => `   x${scale}: ${r.note}`));
  }

  const single = await repeat('one rotation', () => singleRotation(LATENCY_MS));
  rows.push({
    figure: `2. remote calls per rotation / the design's (${CALLS_PER_ROTATION.length})`,
    runs: single.map(({ calls }) => `${calls.total} (ARM ${calls.arm}, Graph ${calls.resourceGraph}, Key Vault ${calls.keyVault}, Table ${calls.table}, Queue ${calls.queue})`),
    goal: '<= 14',
    met: single.every(({ calls }) => calls.total <= 14),
  });
  rows.push({
    figure: `3. event -> PATCH, ${LATENCY_MS} ms per call / ${EVENT_TO_PATCH_HOPS.length} sequential round trips`,
    runs: single.map(({ eventToPatch }) => fmt(eventToPatch)),
    goal: '<= 1.5x',
    met: single.every(({ eventToPatch }) => ratio(eventToPatch) <= 1.5),
  });

  const small = await repeat(`sweep of ${SWEEP_ACCOUNTS / 10} accounts`, () => sweep(SWEEP_ACCOUNTS / 10, 20, 10, LATENCY_MS, 'off'));
  const large = await repeat(`sweep of ${SWEEP_ACCOUNTS} accounts`, () => sweep(SWEEP_ACCOUNTS, 20, 10, LATENCY_MS, 'off'));
  const scoped = await repeat(`sweep of ${SWEEP_ACCOUNTS} accounts with their scopes`, () => sweep(SWEEP_ACCOUNTS, 20, 10, LATENCY_MS, 'on'));
  rows.push({
    figure: `4. sweep, ${SWEEP_ACCOUNTS} accounts, 10 subscriptions, 20 keys, ENCRYPTION_SCOPES=off / paging bound`,
    runs: large.map(fmt),
    goal: '<= 2x',
    met: large.every((r) => ratio(r) <= 2),
  });
  rows.push({
    figure: `4. the same with ENCRYPTION_SCOPES=on / paging + listing bound`,
    runs: scoped.map(fmt),
    goal: '<= 2x',
    met: scoped.every((r) => ratio(r) <= 2),
  });
  // Each large sweep's memory against the small sweep of the same run number.
  const memory = (of: 'rssMiB' | 'liveMiB', digits: number) => large.map((r, i) => {
    const base = small[i]?.[of] ?? Number.NaN;
    return { ratio: r[of] / base, text: `${r[of].toFixed(digits)}/${base.toFixed(digits)} MiB = ${(r[of] / base).toFixed(2)}x` };
  });
  const rss = memory('rssMiB', 0);
  rows.push({
    figure: `4. peak RSS of the worker, sweep of ${SWEEP_ACCOUNTS} / of ${SWEEP_ACCOUNTS / 10} accounts`,
    runs: rss.map((m) => m.text),
    goal: '<= 1.10x',
    met: rss.every((m) => m.ratio <= 1.1),
  });
  rows.push({
    figure: `4. live heap of the worker after the sweep (a full collection), ${SWEEP_ACCOUNTS} / ${SWEEP_ACCOUNTS / 10} accounts`,
    runs: memory('liveMiB', 1).map((m) => m.text),
    goal: 'none (what the peak is made of)',
  });

  const cold = await repeat('cold start', async () => coldStart(join(__dirname, '..', '..'), 9));
  rows.push({ figure: '5. cold start: require the app / bare @azure/functions', runs: cold.map(fmt), goal: '<= 1.5x', met: cold.every((r) => ratio(r) <= 1.5) });

  out(`npm run bench (${REPEATS} runs each; Node ${process.versions.node}; ${new Date().toISOString()})`);
  table([['figure', ...Array.from({ length: REPEATS }, (_, i) => `run ${i + 1}`), 'goal', 'met'], ...rows.map((r) => [r.figure, ...r.runs, r.goal, r.met === undefined ? '-' : r.met ? 'yes' : 'NO'])]);
  out();
  out('Ledger rows of the bulk rotations:');
  for (const d of details) out(d);
  out();
  out(`Event -> PATCH hops: ${EVENT_TO_PATCH_HOPS.join('; ')}.`);
  out(`Calls of one rotation by design: ${CALLS_PER_ROTATION.join('; ')}.`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
