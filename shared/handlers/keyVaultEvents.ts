import type { InvocationContext } from '@azure/functions';
import { services } from '../app';
import { invocationLogger } from '../logging';
import { acceptKeyEvent } from '../usecases/acceptKeyEvent';

/**
 * Event Grid: Key Vault key events (both schemas). Enqueues one fan-out job and returns; throws
 * only when enqueueing fails, so that Event Grid delivers again.
 */
export async function keyVaultEvents(event: unknown, context: InvocationContext): Promise<void> {
  const s = services();
  await acceptKeyEvent(event, s, invocationLogger(context));
}
