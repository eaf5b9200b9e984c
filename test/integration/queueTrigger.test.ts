import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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
});
