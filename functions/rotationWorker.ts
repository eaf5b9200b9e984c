import { app, type InvocationContext } from '@azure/functions';
import { ROTATION_QUEUE } from '../shared/adapters/queue';
import { services } from '../shared/app';
import { parseJob } from '../shared/domain/jobs';
import { invocationLogger } from '../shared/logging';
import { fanOut } from '../shared/usecases/fanOut';
import { runRebind } from '../shared/usecases/rebind';

/** Queue "rotation-jobs": a fan-out job becomes one rebind job per bound account; a rebind job runs the rules. */
export async function rotationWorker(message: unknown, context: InvocationContext): Promise<void> {
  const parsed = parseJob(message);
  // Nothing can process a malformed job: it fails, and after maxDequeueCount the host keeps it in the poison queue.
  if (!parsed.ok) throw new Error(`Malformed rotation job: ${parsed.problem}`);
  const log = invocationLogger(context);
  const s = services();
  if (parsed.job.kind === 'fan-out') {
    await fanOut(parsed.job, s, log);
    return;
  }
  await runRebind(parsed.job, Number(context.triggerMetadata?.dequeueCount ?? 1), s, log);
}

app.storageQueue('rotationWorker', { queueName: ROTATION_QUEUE, connection: 'AzureWebJobsStorage', handler: rotationWorker });
