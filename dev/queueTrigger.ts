import { InvocationContext } from '@azure/functions';
import type { QueueClient } from '@azure/storage-queue';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { LogHandler } from './invocations';

export type QueueHandler = (message: unknown, context: InvocationContext) => Promise<unknown>;

export interface QueueTriggerOptions {
  functionName: string;
  queue: QueueClient;
  poison: QueueClient;
  handler: QueueHandler;
  logHandler: (functionName: string, invocationId: string) => LogHandler;
  batchSize: number;
  maxDequeueCount: number;
  /** host.json visibilityTimeout: how long a failed message stays invisible before its next try. */
  retryAfterSeconds: number;
  /** Idle polling interval (the host's maxPollingInterval). */
  pollMs: number;
}

/**
 * The Functions host's queue trigger, as host.json configures it: receive a batch, run the
 * handler per message, delete on success, hide for retryAfterSeconds on failure, and after
 * maxDequeueCount failures move the message to the poison queue.
 */
export class QueueTrigger {
  private inFlight = 0;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly o: QueueTriggerOptions) {}

  async start(): Promise<void> {
    await this.o.queue.createIfNotExists();
    await this.o.poison.createIfNotExists();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  /** Resolves when no message is running or waiting (visible or hidden) in the queue. */
  async whenIdle(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.inFlight === 0) {
        const { approximateMessagesCount } = await this.o.queue.getProperties();
        if (!approximateMessagesCount && this.inFlight === 0) return;
      }
      if (Date.now() > deadline) throw new Error(`queue ${this.o.queue.name} still busy after ${timeoutMs} ms`);
      await delay(20);
    }
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      let received = 0;
      try {
        received = await this.pollOnce();
      } catch {
        // Storage went away (shutdown or a fault): wait and poll again, as the host does.
      }
      if (received === 0) await delay(this.o.pollMs, undefined, { signal }).catch(() => undefined);
    }
  }

  private async pollOnce(): Promise<number> {
    const { receivedMessageItems: items } = await this.o.queue.receiveMessages({
      numberOfMessages: this.o.batchSize,
      visibilityTimeout: 600,
    });
    this.inFlight += items.length;
    await Promise.all(
      items.map(async (item) => {
        try {
          await this.invoke(item.messageText, item.dequeueCount, item.messageId, item.insertedOn);
          await this.o.queue.deleteMessage(item.messageId, item.popReceipt);
        } catch (error) {
          // As the host does, a failed invocation is logged with its cause.
          this.o.logHandler(this.o.functionName, item.messageId)('error', `Executed '${this.o.functionName}' (Failed, attempt ${item.dequeueCount}): ${(error as Error).message}`, {
            messageId: item.messageId,
            dequeueCount: item.dequeueCount,
          });
          if (item.dequeueCount >= this.o.maxDequeueCount) {
            await this.o.poison.sendMessage(item.messageText);
            await this.o.queue.deleteMessage(item.messageId, item.popReceipt);
          } else {
            await this.o.queue.updateMessage(item.messageId, item.popReceipt, undefined, this.o.retryAfterSeconds);
          }
        } finally {
          this.inFlight -= 1;
        }
      }),
    );
    return items.length;
  }

  private async invoke(text: string, dequeueCount: number, id: string, insertedOn: Date): Promise<void> {
    const invocationId = randomUUID();
    const context = new InvocationContext({
      invocationId,
      functionName: this.o.functionName,
      logHandler: this.o.logHandler(this.o.functionName, invocationId),
      triggerMetadata: { dequeueCount, id, insertionTime: insertedOn.toISOString() },
    });
    // Like the host: base64 text, handed over as JSON when it parses as JSON.
    const decoded = Buffer.from(text, 'base64').toString('utf8');
    let message: unknown = decoded;
    try {
      message = JSON.parse(decoded);
    } catch {
      // Not JSON: the handler gets the string.
    }
    await this.o.handler(message, context);
  }
}
