import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ArmLimits } from '../shared/adapters/pacing';
import type { LogEntry } from './invocations';

/** What a worker process is started with (one JSON value in CMK_WORKER). */
export interface WorkerSpec {
  /** Prefix of its SDK calls' User-Agent. */
  tag: string;
  /** The app settings, as on the main host. */
  settings: Record<string, string>;
  /** PEM of the stand-ins' CA. */
  ca: string;
  armLimits: ArmLimits;
  /** The dev host's own queue connection (its polling), when it differs from the app's AzureWebJobsStorage. */
  hostStorage?: string;
  /** The dev host's idle queue poll (default: the local stack's). */
  hostPollMs?: number;
  /** Wait between operation polls (default: the local stack's). */
  lroPollMs?: number;
  /** Print every log entry as one JSON line on stdout. */
  logJson?: boolean;
  /** With logJson, only these events and the host's "Executed" lines (the rest would cost both processes a JSON line each). */
  logEvents?: string[];
  /** Started with --expose-gc, so that `liveHeapMiB` can collect before it measures (the bench's memory figures). */
  exposeGc?: boolean;
}

/** An instance of the app's queue worker and HTTP endpoints in its own process, as Flex Consumption scales out. */
export interface WorkerProcess {
  tag: string;
  pid: number;
  /** Its dev host's base URL and function key. */
  url: string;
  functionKey: string;
  /** Kills it at once, as a crash would. */
  kill(): void;
  /** Its JavaScript heap in use after a full collection: what it holds, without the garbage (needs exposeGc). */
  liveHeapMiB(): Promise<number>;
  /** Asks it to stop (SIGTERM: its host stops), killing it if it has not exited within 5 s. */
  stop(): Promise<void>;
  exited: Promise<void>;
}

/** Starts dev/worker.js with the spec and resolves once it serves; onLog gets its log entries (with logJson). */
export async function spawnWorkerProcess(spec: WorkerSpec, onLog?: (entry: LogEntry) => void): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [...(spec.exposeGc ? ['--expose-gc'] : []), join(__dirname, 'worker.js')], {
    env: { ...process.env, CMK_WORKER: JSON.stringify(spec) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (): void => void child.kill('SIGKILL');
  const lines = createInterface({ input: child.stdout });
  const heapAnswers: Array<(bytes: number) => void> = [];
  const ready = await new Promise<{ url: string; functionKey: string }>((resolve, reject) => {
    lines.on('line', (line) => {
      const started = /^ready (\S+) (\S+)$/.exec(line);
      const heap = /^heap (\d+)$/.exec(line);
      if (started?.[1] && started[2]) resolve({ url: started[1], functionKey: started[2] });
      else if (heap) heapAnswers.shift()?.(Number(heap[1]));
      else if (onLog && line.startsWith('{')) onLog(JSON.parse(line) as LogEntry);
    });
    void exited.then(() => reject(new Error(`worker ${spec.tag} exited before it was ready`)));
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(kill, 5_000);
    await exited;
    clearTimeout(timer);
  };
  const liveHeapMiB = (): Promise<number> => {
    if (!spec.exposeGc) return Promise.reject(new Error(`worker ${spec.tag} was not started with exposeGc`));
    const answer = new Promise<number>((resolve, reject) => {
      heapAnswers.push((bytes) => resolve(bytes / 2 ** 20));
      void exited.then(() => reject(new Error(`worker ${spec.tag} exited before it told its heap`)));
    });
    child.kill('SIGUSR2');
    return answer;
  };
  return { tag: spec.tag, pid: child.pid ?? 0, ...ready, kill, stop, liveHeapMiB, exited };
}
