import { TableLedger } from '../../shared/adapters/tables/ledger';
import { TableStorage } from '../../shared/adapters/tables/storage';
import { finalStatuses, type RotationStatus } from '../../shared/domain/model';
import { startArmStandIn, type ArmRequestRecord, type ArmStandIn, type ThrottleOptions } from '../armStandIn';
import { AZURITE_ACCOUNT, azuriteConnectionString, startAzurite } from '../azurite';
import type { LogEntry } from '../invocations';
import { startKeyVaultStandIn, type KeyVaultStandIn } from '../keyVaultStandIn';
import { LOCAL_SUBSCRIPTION, pacedLimits } from '../stack';
import { localCa } from '../tls';
import { spawnWorkerProcess, type WorkerProcess, type WorkerSpec } from '../workerProcess';
import { startCountingProxy, type CountingProxy } from './proxy';

interface RigOptions {
  /** Added to every remote call: ARM, Resource Graph, Key Vault, Tables and Queues. */
  latencyMs: number;
  /** ARM's token buckets (scaled); false: none. */
  throttle: ThrottleOptions | false;
  /** How long an encryption update runs in ARM. */
  operationMs?: number;
  subscriptions?: string[];
  /** false: the app and the host reach Azurite directly (no storage latency, no storage counts). */
  storageHop?: boolean;
  /** Vaults to hold the keys (a vault holds at most 1,024 access policies); the first is `vault`. */
  vaults?: number;
  /** Resource Graph quota (queries per window). */
  graphQuota?: number;
  lroPollMs?: number;
  hostPollMs?: number;
  settings?: Record<string, string>;
}

/** Remote calls the app made, by service (the dev host's own queue polling is not the app's). */
export interface CallCounts {
  arm: number;
  resourceGraph: number;
  keyVault: number;
  table: number;
  queue: number;
}

const GRAPH_PATH = '/providers/microsoft.resourcegraph/resources';
const isGraph = (r: ArmRequestRecord): boolean => r.path.toLowerCase() === GRAPH_PATH;

/**
 * The local stack split in two processes: Azurite (its own process), the ARM and Key Vault stand-ins and
 * the storage proxies here, and the app — dev host, handlers, SDK clients — in a worker process, so the
 * stand-ins' work does not run on the app's event loop. Every remote call of the app goes through a hop
 * that adds the same latency and is counted.
 */
export class BenchRig {
  private readonly finished = new Map<string, RotationStatus>();
  private readonly waiters = new Set<() => void>();
  /** Each returns true once it has seen what it waited for. */
  private readonly logWaiters = new Set<(entry: LogEntry) => boolean>();

  private constructor(
    readonly arm: ArmStandIn,
    readonly vaults: KeyVaultStandIn[],
    public worker: WorkerProcess,
    private readonly startWorker: () => Promise<WorkerProcess>,
    readonly ledger: TableLedger,
    readonly subscriptions: string[],
    private readonly proxies: { table: CountingProxy; queue: CountingProxy; hostQueue: CountingProxy; hostTable: CountingProxy },
    private readonly stops: Array<() => Promise<void>>,
  ) {}

  static async start(o: RigOptions): Promise<BenchRig> {
    const stops: Array<() => Promise<void>> = [];
    try {
      const azurite = await startAzurite();
      stops.push(azurite.stop);
      const proxy = async (url: string): Promise<CountingProxy> => {
        const p = await startCountingProxy(new URL(url).origin, o.latencyMs);
        stops.push(p.close);
        return p;
      };
      const [table, queue, hostTable, hostQueue] = await Promise.all([proxy(azurite.tableUrl), proxy(azurite.queueUrl), proxy(azurite.tableUrl), proxy(azurite.queueUrl)]);
      // Without latency or counting (a figure of throughput), storage is reached directly: the hop would only cost CPU here.
      const through = (q: CountingProxy, t: CountingProxy): string => o.storageHop === false
        ? azurite.connectionString
        : azuriteConnectionString(`${q.origin}/${AZURITE_ACCOUNT}`, `${t.origin}/${AZURITE_ACCOUNT}`);
      const arm = await startArmStandIn({
        latencyMs: o.latencyMs, throttle: o.throttle, operationMs: o.operationMs ?? 30,
        graph: { quota: o.graphQuota ?? 1_000 },
      });
      stops.push(arm.close);
      const subscriptions = o.subscriptions ?? [LOCAL_SUBSCRIPTION];
      const settings = {
        AzureWebJobsStorage: through(queue, table),
        SUBSCRIPTION_IDS: subscriptions.join(','),
        ARM_ENDPOINT: arm.url,
        KEY_VAULT_HOST_SUFFIXES: '127.0.0.1:*',
        SWEEP_SCHEDULE: '0 0 0 1 1 *',
        ...o.settings,
      };
      // The worker's log lines reach the rig once it exists (none that matter come before).
      const made: { rig?: BenchRig } = {};
      const spec: WorkerSpec = {
        tag: 'bench', settings, ca: await localCa(), armLimits: pacedLimits(o.throttle),
        hostStorage: through(hostQueue, hostTable),
        ...(o.lroPollMs !== undefined ? { lroPollMs: o.lroPollMs } : {}),
        ...(o.hostPollMs !== undefined ? { hostPollMs: o.hostPollMs } : {}),
        logJson: true,
        logEvents: ['rotation.finished', 'sweep.done'],
        exposeGc: true,
      };
      const start = () => spawnWorkerProcess(spec, (entry) => made.rig?.observe(entry));
      const worker = await start();
      stops.push(() => made.rig?.worker.stop() ?? worker.stop());
      const vaults: KeyVaultStandIn[] = [];
      for (let v = 0; v < (o.vaults ?? 1); v++) {
        const vault = await startKeyVaultStandIn({
          name: `kv-bench-${v}`, latencyMs: o.latencyMs,
          armId: `/subscriptions/${subscriptions[v % subscriptions.length] ?? LOCAL_SUBSCRIPTION}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-bench-${v}`,
          eventWebhook: `${worker.url}/runtime/webhooks/eventgrid?functionName=keyVaultEvents`,
        });
        stops.push(vault.close);
        vaults.push(vault);
      }
      const ledger = new TableLedger(new TableStorage({ connectionString: azurite.connectionString }));
      made.rig = new BenchRig(arm, vaults, worker, start, ledger, subscriptions, { table, queue, hostTable, hostQueue }, stops);
      return made.rig;
    } catch (error) {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
      throw error;
    }
  }

  get vault(): KeyVaultStandIn {
    const [first] = this.vaults;
    if (!first) throw new Error('the rig has no vault');
    return first;
  }

  calls(): CallCounts {
    const appArm = this.arm.requests.filter((r) => r.userAgent.startsWith('bench'));
    const graph = appArm.filter(isGraph).length;
    return {
      arm: appArm.length - graph,
      resourceGraph: graph,
      keyVault: this.vaults.reduce((n, v) => n + v.requests.length, 0),
      table: this.proxies.table.count,
      queue: this.proxies.queue.count,
    };
  }

  /** Resolves once `count` account jobs of the worker have recorded a final row since `since` was taken. */
  async jobsFinished(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.finished.size < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.finished.size} of ${count} jobs finished within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        this.waiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * Runs the compliance sweep through the worker's admin endpoint and resolves once its invocation has ended (the
   * lock released), with how long it took from the request to the sweep's result (sweep.done).
   */
  async runSweep(timeoutMs = 600_000): Promise<{ tookMs: number }> {
    const logged = (match: (entry: LogEntry) => boolean, what: string) => new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} within ${timeoutMs} ms`)), timeoutMs);
      this.logWaiters.add((entry) => {
        if (!match(entry)) return false;
        clearTimeout(timer);
        resolve(Date.now());
        return true;
      });
    });
    const done = logged((e) => e.event === 'sweep.done', 'the sweep did not finish');
    const ended = logged((e) => e.functionName === 'complianceSweep' && e.message.startsWith("Executed 'complianceSweep'"), 'the invocation did not end');
    const started = Date.now();
    const answer = await fetch(`${this.worker.url}/admin/functions/complianceSweep`, { method: 'POST', headers: { 'x-functions-key': this.worker.functionKey } });
    if (answer.status !== 202) throw new Error(`the admin endpoint answered ${answer.status}`);
    const tookMs = (await done) - started;
    await ended;
    return { tookMs };
  }

  /** Replaces the worker with a fresh process (its memory figures are then its own). */
  async freshWorker(): Promise<void> {
    await this.worker.stop();
    this.worker = await this.startWorker();
  }

  /** Forgets the jobs seen finishing so far (the next figure counts its own). */
  resetFinished(): void {
    this.finished.clear();
  }

  /** The ledger rows of the jobs that moved accounts to this key version, by status. */
  async rowsTo(version: string): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const row of await this.ledger.all()) {
      if (row.toVersion === version) counts[row.status] = (counts[row.status] ?? 0) + 1;
    }
    return counts;
  }

  async stop(): Promise<void> {
    for (const stop of this.stops.reverse()) await stop().catch(() => undefined);
  }

  /** An account job's final row is logged with its status once written (AccountJobRun.finish): event rotation.finished. */
  private observe(entry: LogEntry): void {
    for (const waiter of this.logWaiters) if (waiter(entry)) this.logWaiters.delete(waiter);
    const { jobId, status, kind } = entry.fields as { jobId?: string; status?: RotationStatus; kind?: string };
    if (entry.event !== 'rotation.finished' || !jobId || !status || kind !== 'rebind' || !finalStatuses.has(status)) return;
    this.finished.set(jobId, status);
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }
}
