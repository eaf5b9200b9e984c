import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { QueueClient } from '@azure/storage-queue';
import { startAzurite, type RunningAzurite } from '../../dev/azurite';
import { QueueTrigger } from '../../dev/queueTrigger';
import { queueClient } from '../../shared/adapters/queue';

describe("the dev host's queue trigger against Azurite", () => {
  let azurite: RunningAzurite;
  before(async () => {
    azurite = await startAzurite();
  });
  after(() => azurite.stop());

  it('moves a message delivered more than maxDequeueCount times to the poison queue without running it, as the host does', async () => {
    const target = { connectionString: azurite.connectionString };
    const [queue, poison] = await Promise.all([queueClient(target, 'trigger-crashed'), queueClient(target, 'trigger-crashed-poison')]);
    await Promise.all([queue.createIfNotExists(), poison.createIfNotExists()]);
    await queue.sendMessage('crashed on every delivery');
    // Five deliveries whose workers died: each receive counts one, and the message comes back at once.
    for (let i = 0; i < 5; i++) {
      const [message] = (await queue.receiveMessages({ visibilityTimeout: 30 })).receivedMessageItems;
      assert.ok(message);
      await queue.updateMessage(message.messageId, message.popReceipt, undefined, 0);
    }
    const invoked: unknown[] = [];
    const trigger = new QueueTrigger({
      functionName: 'worker', queue, poison, handler: async (message) => void invoked.push(message), logHandler: () => () => undefined,
      batchSize: 4, newBatchThreshold: 2, maxDequeueCount: 5, retryAfterSeconds: 0, inFlightSeconds: 30, pollMs: 20,
    });
    await trigger.start();
    await trigger.whenIdle(10_000);
    await trigger.stop();
    assert.deepEqual(invoked, [], 'not run a sixth time');
    assert.deepEqual((await poison.receiveMessages({ numberOfMessages: 5 })).receivedMessageItems.map((m) => m.messageText), ['crashed on every delivery']);
  });
  it('completes a message whose invisibility was being renewed as its handler ended: one run, deleted, never poisoned', async () => {
    const target = { connectionString: azurite.connectionString };
    const [queue, poison] = await Promise.all([queueClient(target, 'trigger-renewed'), queueClient(target, 'trigger-renewed-poison')]);
    await Promise.all([queue.createIfNotExists(), poison.createIfNotExists()]);
    // Storage has applied each renewal (a new pop receipt) well before its answer is back, as on a slow link.
    const slowAnswers = new Proxy(queue, {
      get(client, property) {
        if (property === 'updateMessage') {
          return async (...args: Parameters<QueueClient['updateMessage']>) => {
            const answer = await client.updateMessage(...args);
            await delay(400);
            return answer;
          };
        }
        const value: unknown = Reflect.get(client, property, client);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(client) : value;
      },
    });
    await queue.sendMessage(Buffer.from(JSON.stringify({ job: 'slow' })).toString('base64'));
    const runs: number[] = [];
    const trigger = new QueueTrigger({
      functionName: 'worker', queue: slowAnswers, poison, logHandler: () => () => undefined,
      // Renewed every 500 ms; the handler ends while the first renewal's answer is on its way.
      handler: async (_message, context) => {
        runs.push(Number(context.triggerMetadata?.dequeueCount));
        await delay(700);
      },
      batchSize: 4, newBatchThreshold: 2, maxDequeueCount: 5, retryAfterSeconds: 0, inFlightSeconds: 1, pollMs: 20,
    });
    await trigger.start();
    await trigger.whenIdle(20_000);
    await trigger.stop();
    assert.deepEqual(runs, [1], 'the handler succeeded once: the host completes it, it does not deliver it again');
    assert.deepEqual((await poison.peekMessages({ numberOfMessages: 5 })).peekedMessageItems, []);
  });
});
