import type { TokenCredential } from '@azure/identity';
import type { QueueClient, StoragePipelineOptions } from '@azure/storage-queue';
import type { RotationJob } from '../domain/jobs';
import { toDependencyError } from './azureErrors';
import type { JobQueue } from '../ports';
import { sdk } from './sdk';

export const ROTATION_QUEUE = 'rotation-jobs';
/** The Functions host moves a message here after maxDequeueCount failed attempts. */
export const POISON_QUEUE = `${ROTATION_QUEUE}-poison`;

/** A connection string (local), or the account's queue endpoint with the app's identity (Azure, any cloud). */
type QueueTarget = { connectionString: string } | { queueServiceUri: string; credential: TokenCredential };

export async function queueClient(target: QueueTarget, name: string, options: StoragePipelineOptions = {}): Promise<QueueClient> {
  const { QueueClient } = await sdk.queues();
  return 'connectionString' in target
    ? new QueueClient(target.connectionString, name, options)
    : new QueueClient(`${target.queueServiceUri.replace(/\/$/, '')}/${name}`, target.credential, options);
}

/** Base64 JSON, the Functions host's default queue message encoding. */
export function encodeJob(job: RotationJob): string {
  return Buffer.from(JSON.stringify(job), 'utf8').toString('base64');
}

/** JobQueue over @azure/storage-queue; the client is made and the queue created once per process, on first use. */
export class StorageJobQueue implements JobQueue {
  private ready: Promise<QueueClient> | undefined;

  constructor(
    private readonly target: QueueTarget,
    private readonly name: string = ROTATION_QUEUE,
    /** The active trace context, carried in the message so the job continues the trace (undefined: telemetry off). */
    private readonly traceparent: () => string | undefined = () => undefined,
  ) {}

  async enqueue(job: RotationJob, options: { delaySeconds?: number } = {}): Promise<void> {
    this.ready ??= queueClient(this.target, this.name).then(async (client) => {
      await client.createIfNotExists();
      return client;
    }).catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    try {
      const client = await this.ready;
      // A queue message holds at most 64 KB; the job's fields are bounded by its schema well inside that.
      const traceparent = this.traceparent();
      await client.sendMessage(encodeJob(traceparent ? { ...job, traceparent } : job), options.delaySeconds ? { visibilityTimeout: Math.min(options.delaySeconds, 7 * 86_400) } : {});
    } catch (error) {
      throw toDependencyError(error, `queueing job ${job.jobId}`, 'storage');
    }
  }
}
