import { InvocationContext } from '@azure/functions';
import type { QueueClient } from '@azure/storage-queue';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { LogHandler } from './invocations';

export type QueueHandler = (message: unknown, context: InvocationContext) => Promise<unknown>;

interface QueueTriggerOptions {
  functionName: string;
  queue: QueueClient;
  poison: QueueClient;
  handler: QueueHandler;
  logHandler: (functionName: string, invocationId: string) => LogHandler;
  batchSize: number;
  /** When this few messages are left running, the next batch is fetched (host.json newBatchThreshold). */
  newBatchThreshold: number;
  maxDequeueCount: number;
  /** host.json visibilityTimeout: how long a failed message stays invisible before its next try. */
  retryAfterSeconds: number;
  /** A running message stays invisible this long and is renewed halfway, so a dead worker's messages come back. */
  inFlightSeconds: number;
  /** Idle polling interval (the host's maxPollingInterval). */
  pollMs: number;
}

/**
 * The Functions host's queue trigger, as host.json configures it: fetch a batch, run the handler per
 * message, fetch the next batch once only newBatchThreshold are still running, keep running messages
 * invisible, delete on success, hide for retryAfterSeconds on failure, and after maxDequeueCount failures
 * move the message to the poison queue (one delivered more often than that, its last delivery dead, unrun).
 */
export class QueueTrigger {
  private inFlight = 0;
  private readonly running = new Set<Promise<void>>();
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
    await Promise.allSettled([...this.running]);
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
      if (this.inFlight > this.o.newBatchThreshold) {
        // Wait for a running message to finish before fetching more.
        await Promise.race([...this.running, delay(this.o.pollMs, undefined, { signal }).catch(() => undefined)]);
        continue;
      }
      let received = 0;
      try {
        received = await this.fetch();
      } catch {
        // Storage went away (shutdown or a fault): wait and poll again, as the host does.
      }
      if (received === 0) await delay(this.o.pollMs, undefined, { signal }).catch(() => undefined);
    }
  }

  private async fetch(): Promise<number> {
    const { receivedMessageItems: items } = await this.o.queue.receiveMessages({
      numberOfMessages: this.o.batchSize,
      visibilityTimeout: this.o.inFlightSeconds,
    });
    for (const item of items) {
      this.inFlight += 1;
      const done = this.process(item).finally(() => {
        this.inFlight -= 1;
        this.running.delete(done);
      });
      this.running.add(done);
    }
    return items.length;
  }

  private async process(item: { messageId: string; popReceipt: string; messageText: string; dequeueCount: number; insertedOn: Date }): Promise<void> {
    let popReceipt = item.popReceipt;
    // Delivered more than maxDequeueCount times (its last delivery died without an answer): the host moves it to the
    // poison queue without running it.
    if (item.dequeueCount > this.o.maxDequeueCount) return this.poison(item.messageText, item.messageId, popReceipt).catch(() => undefined);
    // Renew the invisibility while the invocation runs, as the host does; each renewal's pop receipt is the one to use.
    let renewing: Promise<void> = Promise.resolve();
    const renewal = setInterval(() => {
      renewing = renewing.then(() =>
        this.o.queue.updateMessage(item.messageId, popReceipt, undefined, this.o.inFlightSeconds)
          .then((r) => void (popReceipt = r.popReceipt ?? popReceipt))
          .catch(() => undefined),
      );
    }, Math.max(100, (this.o.inFlightSeconds * 1000) / 2));
    let failure: { error: unknown } | undefined;
    try {
      await this.invoke(item.messageText, item.dequeueCount, item.messageId, item.insertedOn);
    } catch (error) {
      failure = { error };
    }
    // As the host does, the renewal stops, and one under way is waited for, before the message is completed.
    clearInterval(renewal);
    await renewing;
    if (!failure) {
      // A message already gone or taken over is the host's debug line, not a failed invocation.
      await this.o.queue.deleteMessage(item.messageId, popReceipt).catch(() => undefined);
      return;
    }
    // As the host does, a failed invocation is logged with its cause.
    this.o.logHandler(this.o.functionName, item.messageId)('error', `Executed '${this.o.functionName}' (Failed, attempt ${item.dequeueCount}): ${(failure.error as Error).message}`, {
      messageId: item.messageId,
      dequeueCount: item.dequeueCount,
    });
    try {
      if (item.dequeueCount >= this.o.maxDequeueCount) {
        await this.poison(item.messageText, item.messageId, popReceipt);
      } else {
        await this.o.queue.updateMessage(item.messageId, popReceipt, undefined, this.o.retryAfterSeconds);
      }
    } catch {
      // The message comes back when its invisibility ends.
    }
  }

  private async poison(text: string, messageId: string, popReceipt: string): Promise<void> {
    await this.o.poison.sendMessage(text);
    await this.o.queue.deleteMessage(messageId, popReceipt);
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
