import { app } from '@azure/functions';

// Queue "rotation-jobs" (ROTATION_QUEUE in shared/adapters/queue.ts). The handler loads on the first message.
app.storageQueue('rotationWorker', {
  queueName: 'rotation-jobs',
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => (await import('../shared/handlers/rotationWorker')).rotationWorker(message, context),
});
