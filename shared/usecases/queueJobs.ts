import { ledgerRow, type AccountJob } from '../domain/jobs';
import type { BindingHolder } from '../domain/model';
import type { JobQueue, Ledger } from '../ports';
import { forEachLimited } from '../concurrency';

/** How many jobs are being queued at once. */
export const QUEUE_CONCURRENCY = 16;

export interface QueueDeps {
  ledger: Ledger;
  queue: JobQueue;
}

/**
 * The message first, then its row: a queued row always has a message behind it (a failed send leaves no row),
 * and the row is only created where absent, so it never overwrites what a fast worker already recorded.
 */
export async function queueAccountJobs(
  /** Each job with the binding it is about as discovery read it (its version is the queued row's fromVersion). */
  items: Array<{ job: AccountJob; account?: Pick<BindingHolder, 'binding'> | undefined }>,
  deps: QueueDeps,
): Promise<void> {
  await forEachLimited(items, QUEUE_CONCURRENCY, async ({ job, account }) => {
    await deps.queue.enqueue(job);
    await deps.ledger.recordQueued([{ ...ledgerRow(job, 'queued', 0), ...(account?.binding?.keyVersion ? { fromVersion: account.binding.keyVersion } : {}) }]);
  });
}
