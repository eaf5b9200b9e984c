import { buildServices } from '../shared/app';
import { loadConfig } from '../shared/config';
import { startDevHost } from './devHost';
import type { LogEntry } from './invocations';
import { LOCAL_HOST_TIMINGS, localEnvironment } from './stack';
import type { WorkerSpec } from './workerProcess';

// Another instance of the app in its own process, as Flex Consumption scales out: it takes jobs from the
// same queue (so a test can kill it in the middle of one) and serves the same HTTP and Event Grid endpoints.
async function main(): Promise<void> {
  const spec = JSON.parse(process.env.CMK_WORKER ?? '{}') as WorkerSpec;
  // The host's own "Executed" line says when an invocation ended.
  const wanted = (entry: LogEntry): boolean => !spec.logEvents || (entry.event ? spec.logEvents.includes(entry.event) : entry.message.startsWith('Executed '));
  const environment = { ...localEnvironment(spec.ca, spec.armLimits, spec.tag), ...(spec.lroPollMs !== undefined ? { lroPollMs: spec.lroPollMs } : {}) };
  const services = buildServices(loadConfig(spec.settings), environment);
  const host = await startDevHost({
    services,
    connectionString: spec.hostStorage ?? spec.settings.AzureWebJobsStorage ?? '',
    ...LOCAL_HOST_TIMINGS,
    ...(spec.hostPollMs !== undefined ? { pollMs: spec.hostPollMs } : {}),
    appSettings: spec.settings,
    retainLogs: false,
    ...(spec.logJson ? { onLog: (entry) => void (wanted(entry) && process.stdout.write(`${JSON.stringify(entry)}\n`)) } : {}),
  });
  process.stdout.write(`ready ${host.url} ${host.functionKey}\n`);
  // With --expose-gc (WorkerSpec.exposeGc), SIGUSR2 asks for the heap in use after a full collection.
  const { gc } = globalThis;
  if (gc) {
    process.on('SIGUSR2', () => {
      void gc();
      process.stdout.write(`heap ${process.memoryUsage().heapUsed}\n`);
    });
  }
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  await host.stop();
}

main().catch((error: unknown) => {
  process.stderr.write(`worker failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
