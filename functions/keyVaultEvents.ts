import { app, type InvocationContext } from '@azure/functions';
import { services } from '../shared/app';
import { invocationLogger } from '../shared/logging';
import { acceptKeyEvent } from '../shared/usecases/acceptKeyEvent';

/**
 * Event Grid: Key Vault key events (both schemas). Enqueues one fan-out job and returns; throws
 * only when enqueueing fails, so that Event Grid delivers again.
 */
export async function keyVaultEvents(event: unknown, context: InvocationContext): Promise<void> {
  const s = services();
  await acceptKeyEvent(event, s, invocationLogger(context));
}

app.eventGrid('keyVaultEvents', { handler: keyVaultEvents });
