import { app } from '@azure/functions';

// Event Grid: Key Vault key events (both schemas). The handler and what it uses load on the first event.
app.eventGrid('keyVaultEvents', {
  handler: async (event, context) => (await import('../shared/handlers/keyVaultEvents')).keyVaultEvents(event, context),
});
