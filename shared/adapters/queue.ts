import type { TokenCredential } from '@azure/identity';
import { QueueClient, type StoragePipelineOptions } from '@azure/storage-queue';
import type { RotationJob } from '../domain/jobs';
import { toDependencyError } from '../errors';
import type { JobQueue } from '../ports';

export const ROTATION_QUEUE = 'rotation-jobs';
/** The Functions host moves a message here after maxDequeueCount failed attempts. */
export const POISON_QUEUE = `${ROTATION_QUEUE}-poison`;

export type QueueTarget = { connectionString: string } | { accountName: string; credential: TokenCredential };

export function queueClient(target: QueueTarget, name: string, options: StoragePipelineOptions = {}): QueueClient {
  return 'connectionString' in target
    ? new QueueClient(target.connectionString, name, options)
    : new QueueClient(`https://${target.accountName}.queue.core.windows.net/${name}`, target.credential, options);
}

/** Base64 JSON, the Functions host's default queue message encoding. */
export function encodeJob(job: RotationJob): string {
  return Buffer.from(JSON.stringify(job), 'utf8').toString('base64');
}

/** JobQueue over @azure/storage-queue; the queue is created once per process. */
export class StorageJobQueue implements JobQueue {
  private ready: Promise<unknown> | undefined;

  constructor(private readonly client: QueueClient) {}

  async enqueue(job: RotationJob, options: { delaySeconds?: number } = {}): Promise<void> {
    this.ready ??= this.client.createIfNotExists().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    try {
      await this.ready;
      // A queue message holds at most 64 KB; the job's fields are bounded by its schema well inside that.
      await this.client.sendMessage(encodeJob(job), options.delaySeconds ? { visibilityTimeout: Math.min(options.delaySeconds, 7 * 86_400) } : {});
    } catch (error) {
      throw toDependencyError(error, `queueing job ${job.jobId}`, 'storage');
    }
  }
}
