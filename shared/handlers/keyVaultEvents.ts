import type { InvocationContext } from '@azure/functions';
import { services } from '../app';
import { traced } from '../logging';
import { acceptKeyEvent } from '../usecases/acceptKeyEvent';

/**
 * Event Grid: Key Vault key events (both schemas). Enqueues one fan-out job and returns; throws
 * only when enqueueing fails, so that Event Grid delivers again.
 */
export async function keyVaultEvents(event: unknown, context: InvocationContext): Promise<void> {
  const s = services();
  await traced(context, { name: 'cmk.key-event', attributes: {} }, async (log, annotate) => {
    const result = await acceptKeyEvent(event, s, log);
    if (result.outcome === 'enqueued') {
      annotate({ 'cmk.job.id': result.job.jobId, 'cmk.event.id': result.job.eventId, 'cmk.event.type': result.job.eventType, 'cmk.key.name': result.job.keyName });
    }
  });
}
