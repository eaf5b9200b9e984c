import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { POISON_QUEUE, queueClient, ROTATION_QUEUE } from '../shared/adapters/queue';
import { useServices, type Services } from '../shared/app';
import { QUEUE_SETTINGS } from '../shared/queueSettings';
import { InvocationContext, type TimerFunctionOptions } from '@azure/functions';
import { parseSchedule } from '../shared/schedule';
import { randomBytes, randomUUID } from 'node:crypto';
import { reply, serveEventGrid, type EventGridHandler } from './eventGridWebhook';
import { compileRoutes, serveHttp } from './httpTrigger';
import { LogCollector, type LogEntry } from './invocations';
import { QueueTrigger, type QueueHandler } from './queueTrigger';
import { loadFunctions } from './registry';

interface DevHostOptions {
  services: Services;
  /** Storage connection string for the queue trigger (Azurite). */
  connectionString: string;
  /** 0 (default) picks a free port; Core Tools uses 7071. */
  port?: number;
  /** Seconds a failed message waits before its retry (host.json visibilityTimeout; 30 s in Azure). */
  retryAfterSeconds?: number;
  /** Seconds a running message stays invisible, renewed halfway; a dead worker's messages return after it (600 default). */
  inFlightSeconds?: number;
  pollMs?: number;
  /** Key for authLevel function routes; generated when absent. */
  functionKey?: string;
  /** App settings for %NAME% references in trigger options (e.g. the timer's %SWEEP_SCHEDULE%). */
  appSettings?: Record<string, string | undefined>;
  onLog?: (entry: LogEntry) => void;
  /** Keep every log entry in `logs` (default true). */
  retainLogs?: boolean;
}

export interface DevHost {
  url: string;
  functionKey: string;
  eventGridWebhook: (functionName: string) => string;
  logs: LogEntry[];
  poisonMessages(): Promise<string[]>;
  /** Runs a timer function now, as Core Tools' POST /admin/functions/{name} does. */
  runTimer(name: string): Promise<void>;
  whenIdle(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Serves the same handlers as the Functions host, for machines without Core Tools. */
export async function startDevHost(o: DevHostOptions): Promise<DevHost> {
  useServices(o.services);
  const functions = loadFunctions();
  for (const hook of functions.appStart) await hook();
  const worker = functions.storageQueue.get('rotationWorker');
  if (!worker || worker.queueName !== ROTATION_QUEUE) throw new Error(`functions/ registers no queue trigger on ${ROTATION_QUEUE}`);
  const eventGrid: Record<string, EventGridHandler> = Object.fromEntries([...functions.eventGrid].map(([name, f]) => [name, f.handler as EventGridHandler]));
  const routes = compileRoutes(functions.http);
  const functionKey = o.functionKey ?? randomBytes(24).toString('base64url');
  const logs = new LogCollector(o.onLog, o.retainLogs ?? true);
  const poison = await queueClient({ connectionString: o.connectionString }, POISON_QUEUE);
  const queueTrigger = new QueueTrigger({
    functionName: 'rotationWorker',
    queue: await queueClient({ connectionString: o.connectionString }, ROTATION_QUEUE),
    poison,
    handler: worker.handler as QueueHandler,
    logHandler: logs.handlerFor,
    batchSize: QUEUE_SETTINGS.batchSize,
    newBatchThreshold: QUEUE_SETTINGS.newBatchThreshold,
    maxDequeueCount: QUEUE_SETTINGS.maxDequeueCount,
    retryAfterSeconds: o.retryAfterSeconds ?? 30,
    inFlightSeconds: o.inFlightSeconds ?? 600,
    pollMs: o.pollMs ?? 100,
  });
  const runTimer = async (name: string): Promise<void> => {
    const timer = functions.timer.get(name);
    if (!timer) throw new Error(`no timer function named "${name}"`);
    const invocationId = randomUUID();
    const context = new InvocationContext({ invocationId, functionName: name, logHandler: logs.handlerFor(name, invocationId) });
    const started = Date.now();
    try {
      await timer.handler({ isPastDue: false, schedule: { adjustForDST: true }, scheduleStatus: { last: '', next: '', lastUpdated: '' } }, context);
      // The line the Functions host writes when an invocation ends.
      logs.handlerFor(name, invocationId)('information', `Executed '${name}' (Succeeded, Id=${invocationId}, Duration=${Date.now() - started}ms)`);
    } catch (error) {
      logs.handlerFor(name, invocationId)('error', `Executed '${name}' (Failed): ${(error as Error).message}`);
      throw error;
    }
  };

  // A bad schedule stops the host before anything runs, as the Functions host refuses to index the function.
  const schedules = scheduleTimers(functions.timer, o.appSettings ?? process.env, (name) => runTimer(name).catch(() => undefined));
  await queueTrigger.start();

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.toLowerCase();
    const handled =
      path === '/runtime/webhooks/eventgrid'
        ? serveEventGrid(req, res, url, eventGrid, logs.handlerFor)
        : path.startsWith('/admin/functions/') && req.method === 'POST'
          ? serveAdmin(req, res, url, functionKey, runTimer)
          : path.startsWith('/api/')
          ? serveHttp(req, res, url, routes, functionKey, logs.handlerFor)
          : Promise.resolve(reply(res, 404, { error: `no route for ${url.pathname}` }));
    handled.catch(() => {
      if (!res.headersSent) reply(res, 500, { error: 'dev host error' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    functionKey,
    eventGridWebhook: (functionName) => `${url}/runtime/webhooks/eventgrid?functionName=${encodeURIComponent(functionName)}`,
    logs: logs.entries,
    poisonMessages: async () => {
      const peeked = await poison.peekMessages({ numberOfMessages: 32 });
      return peeked.peekedMessageItems.map((m) => Buffer.from(m.messageText, 'base64').toString('utf8'));
    },
    runTimer,
    whenIdle: (timeoutMs) => queueTrigger.whenIdle(timeoutMs),
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      schedules.stop();
      await queueTrigger.stop();
      for (const hook of functions.appTerminate) await hook();
      useServices(undefined);
    },
  };
}

/** Core Tools' admin endpoint for non-HTTP functions: POST /admin/functions/{name} runs a timer now (202). */
async function serveAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  functionKey: string,
  runTimer: (name: string) => Promise<void>,
): Promise<void> {
  if ((req.headers['x-functions-key'] ?? url.searchParams.get('code')) !== functionKey) return reply(res, 401);
  const name = decodeURIComponent(url.pathname.split('/')[3] ?? '');
  reply(res, 202);
  await runTimer(name).catch(() => undefined);
}

/** Runs each timer function on its NCRONTAB schedule (%SETTING% resolved), with the parser the settings check uses. */
function scheduleTimers(
  timers: Map<string, TimerFunctionOptions>,
  settings: Record<string, string | undefined>,
  run: (name: string) => Promise<unknown>,
): { stop(): void } {
  const handles = new Map<string, NodeJS.Timeout>();
  const arm = (name: string, next: (after: Date) => Date): void => {
    const delay = Math.max(0, next(new Date()).getTime() - Date.now());
    // Node timers hold 32-bit delays; a later occurrence is re-armed on the way.
    const handle = setTimeout(() => {
      if (delay > 2 ** 31 - 1) return arm(name, next);
      void run(name).finally(() => handles.has(name) && arm(name, next));
    }, Math.min(delay, 2 ** 31 - 1));
    handle.unref();
    handles.set(name, handle);
  };
  for (const [name, options] of timers) {
    const expression = options.schedule.replace(/%(\w+)%/g, (_, key: string) => {
      const value = settings[key];
      if (!value) throw new Error(`timer ${name}: app setting ${key} is not set`);
      return value;
    });
    const schedule = parseSchedule(expression);
    if (!schedule.ok) throw new Error(`timer ${name}: schedule "${options.schedule}" ${schedule.problem} (got "${expression}")`);
    arm(name, schedule.next);
  }
  return {
    stop: () => {
      for (const handle of handles.values()) clearTimeout(handle);
      handles.clear();
    },
  };
}
