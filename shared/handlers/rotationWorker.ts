import type { InvocationContext } from '@azure/functions';
import { services } from '../app';
import type { RotationJob } from '../domain/jobs';
import { parseJob } from '../messages/rotationJobs';
import { invocationLogger, traced } from '../logging';
import type { Logger } from '../ports';
import { runDisableCmk, runSwitchKey } from '../usecases/encryptionChange';
import { fanOut } from '../usecases/fanOut';
import { runRebind } from '../usecases/rebind';
import { sweepOnce } from '../usecases/sweepOnce';

/** Queue "rotation-jobs": fan-out jobs become one job per bound account; account jobs run the rules; sweeps asked for over HTTP run here. */
export async function rotationWorker(message: unknown, context: InvocationContext): Promise<void> {
  const parsed = parseJob(message);
  // Nothing can process a malformed job: it fails, and after maxDequeueCount the host keeps it in the poison queue.
  if (!parsed.ok) {
    invocationLogger(context).event('job.malformed', { problem: parsed.problem });
    throw new Error(`Malformed rotation job: ${parsed.problem}`);
  }
  const job = parsed.job;
  // The job's span continues the trace of what queued it: event -> fan-out -> each rebind, by job id.
  const attributes = {
    'cmk.job.id': job.jobId, 'cmk.job.kind': job.kind, 'cmk.trigger': job.trigger,
    'cmk.job.parent_id': 'parentJobId' in job ? job.parentJobId : undefined, 'cmk.account.id': 'accountId' in job ? job.accountId : undefined,
  };
  await traced(context, { name: `cmk.${job.kind}`, attributes, parent: job.traceparent }, (log) => run(job, context, log));
}

async function run(job: RotationJob, context: InvocationContext, log: Logger): Promise<void> {
  // This message's delivery count; the job adds the attempts it carries from its own earlier re-queues.
  const delivery = Number(context.triggerMetadata?.dequeueCount ?? 1);
  // The message's id: its redelivery is the same run (of a sweep, of a fan-out's rotation), a second message of the job is not.
  const messageId = typeof context.triggerMetadata?.id === 'string' ? context.triggerMetadata.id : undefined;
  const s = services();
  switch (job.kind) {
    case 'fan-out':
      await fanOut(job, s, log, messageId);
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
      await sweepOnce(job.jobId, 'manual', s, log, messageId);
      return;
    default: {
      const unknown: never = job;
      throw new Error(`Unhandled job ${JSON.stringify(unknown)}`);
    }
  }
}
