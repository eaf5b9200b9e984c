import type { InvocationContext } from '@azure/functions';
import { services } from '../app';
import { parseJob } from '../domain/jobs';
import { invocationLogger } from '../logging';
import { runDisableCmk, runSwitchKey } from '../usecases/encryptionChange';
import { fanOut } from '../usecases/fanOut';
import { runRebind } from '../usecases/rebind';
import { sweepOnce } from '../usecases/sweep';

/** Queue "rotation-jobs": fan-out jobs become one job per bound account; account jobs run the rules; sweeps asked for over HTTP run here. */
export async function rotationWorker(message: unknown, context: InvocationContext): Promise<void> {
  const parsed = parseJob(message);
  // Nothing can process a malformed job: it fails, and after maxDequeueCount the host keeps it in the poison queue.
  if (!parsed.ok) throw new Error(`Malformed rotation job: ${parsed.problem}`);
  const log = invocationLogger(context);
  // This message's delivery count; the job adds the attempts it carries from its own earlier re-queues.
  const delivery = Number(context.triggerMetadata?.dequeueCount ?? 1);
  const s = services();
  const job = parsed.job;
  switch (job.kind) {
    case 'fan-out':
      await fanOut(job, s, log);
      return;
    case 'rebind':
      await runRebind(job, delivery, s, log);
      return;
    case 'switch-key':
      await runSwitchKey(job, delivery, s, log);
      return;
    case 'disable-cmk':
      await runDisableCmk(job, delivery, s, log);
      return;
    case 'sweep':
      await sweepOnce(job.jobId, 'manual', s, log);
      return;
    default: {
      const unknown: never = job;
      throw new Error(`Unhandled job ${JSON.stringify(unknown)}`);
    }
  }
}
