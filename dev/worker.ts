import type { ArmLimits } from '../shared/adapters/pacing';
import { buildServices } from '../shared/app';
import { loadConfig } from '../shared/config';
import { startDevHost } from './devHost';
import { LOCAL_HOST_TIMINGS, localEnvironment } from './stack';

// Another instance of the app's queue worker in its own process, as Flex Consumption scales out: it takes
// jobs from the same queue, so a test can kill it in the middle of one (LocalStack.spawnWorker).
async function main(): Promise<void> {
  const settings = JSON.parse(process.env.CMK_APP_SETTINGS ?? '{}') as Record<string, string>;
  const limits = JSON.parse(process.env.CMK_ARM_LIMITS ?? 'null') as ArmLimits;
  const services = buildServices(loadConfig(settings), localEnvironment(process.env.CMK_LOCAL_CA ?? '', limits, process.env.CMK_WORKER_TAG));
  const host = await startDevHost({ services, connectionString: settings.AzureWebJobsStorage ?? '', ...LOCAL_HOST_TIMINGS, appSettings: settings });
  process.stdout.write('ready\n');
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  await host.stop();
}

main().catch((error: unknown) => {
  process.stderr.write(`worker failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
