// Mirrors host.json extensions.queues (a test keeps the two in step).
export const QUEUE_SETTINGS = {
  batchSize: 32,
  newBatchThreshold: 16,
  maxDequeueCount: 5,
  /** host.json's "visibilityTimeout": the wait before a failed message is tried again. */
  visibilityTimeout: '00:00:30',
} as const;
