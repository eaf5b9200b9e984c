import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { keyVaultEvents } from '../functions/keyVaultEvents';
import { rotationWorker } from '../functions/rotationWorker';
import { POISON_QUEUE, queueClient, ROTATION_QUEUE } from '../shared/adapters/queue';
import { useServices, type Services } from '../shared/app';
import { QUEUE_SETTINGS } from '../shared/queueSettings';
import { reply, serveEventGrid } from './eventGridWebhook';
import { LogCollector, type LogEntry } from './invocations';
import { QueueTrigger } from './queueTrigger';

export interface DevHostOptions {
  services: Services;
  /** Storage connection string for the queue trigger (Azurite). */
  connectionString: string;
  /** 0 (default) picks a free port; Core Tools uses 7071. */
  port?: number;
  /** Seconds a failed message waits before its retry (host.json visibilityTimeout; 30 s in Azure). */
  retryAfterSeconds?: number;
  pollMs?: number;
  onLog?: (entry: LogEntry) => void;
}

export interface DevHost {
  url: string;
  eventGridWebhook: (functionName: string) => string;
  logs: LogEntry[];
  poisonMessages(): Promise<string[]>;
  whenIdle(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Serves the same handlers as the Functions host, for machines without Core Tools. */
export async function startDevHost(o: DevHostOptions): Promise<DevHost> {
  useServices(o.services);
  const logs = new LogCollector(o.onLog);
  const poison = queueClient({ connectionString: o.connectionString }, POISON_QUEUE);
  const worker = new QueueTrigger({
    functionName: 'rotationWorker',
    queue: queueClient({ connectionString: o.connectionString }, ROTATION_QUEUE),
    poison,
    handler: rotationWorker,
    logHandler: logs.handlerFor,
    batchSize: QUEUE_SETTINGS.batchSize,
    maxDequeueCount: QUEUE_SETTINGS.maxDequeueCount,
    retryAfterSeconds: o.retryAfterSeconds ?? 30,
    pollMs: o.pollMs ?? 100,
  });
  await worker.start();

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.toLowerCase();
    const handled =
      path === '/runtime/webhooks/eventgrid'
        ? serveEventGrid(req, res, url, { keyVaultEvents }, logs.handlerFor)
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
    eventGridWebhook: (functionName) => `${url}/runtime/webhooks/eventgrid?functionName=${encodeURIComponent(functionName)}`,
    logs: logs.entries,
    poisonMessages: async () => {
      const peeked = await poison.peekMessages({ numberOfMessages: 32 });
      return peeked.peekedMessageItems.map((m) => Buffer.from(m.messageText, 'base64').toString('utf8'));
    },
    whenIdle: (timeoutMs) => worker.whenIdle(timeoutMs),
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await worker.stop();
      useServices(undefined);
    },
  };
}
