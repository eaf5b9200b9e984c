import { randomUUID } from 'node:crypto';

export type KeyEventType = 'KeyNewVersionCreated' | 'KeyNearExpiry' | 'KeyExpired';
export type EventSchema = 'EventGridSchema' | 'CloudEventSchemaV1_0';

/** What the system topic knows about the key version the event is about. */
interface KeyEventSubject {
  kid: string;
  name: string;
  version: string;
  nbf?: number;
  exp?: number;
}

export interface PublishedEvent {
  /** The event exactly as posted (one element of the batch array). */
  event: Record<string, unknown>;
  attempts: number;
  outcome: 'pending' | 'delivered' | 'failed' | 'no-webhook';
  lastStatus?: number;
  lastError?: string;
}

interface EventPublisherOptions {
  webhook?: string;
  schema: EventSchema;
  topic: string;
  vaultName: string;
  now: () => Date;
  /** Total tries per delivery, the first included. */
  maxAttempts: number;
  backoffMs: number;
}

/** Event Grid drops (dead-letters) these at once instead of retrying (DESIGN §9: 400, 413 and 403). */
const NOT_RETRIED = new Set([400, 403, 413]);

/** Event Grid counts only 200-204 as delivered; any other answer, 2xx or not, is retried. */
const delivered = (status: number): boolean => status >= 200 && status <= 204;

/** Posts Key Vault events to a webhook the way an Event Grid system topic subscription does. */
export class EventPublisher {
  readonly published: PublishedEvent[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly abort = new AbortController();

  constructor(private readonly o: EventPublisherOptions) {}

  /**
   * Builds the event now and delivers it once `after` resolves (the HTTP response that caused it has been
   * sent). The returned promise settles when delivery succeeded or was given up; it never rejects.
   */
  publish(type: KeyEventType, subject: KeyEventSubject, after: Promise<unknown> = Promise.resolve()): Promise<void> {
    const record: PublishedEvent = { event: this.build(type, subject), attempts: 0, outcome: 'pending' };
    this.published.push(record);
    const delivery = after.then(() => this.deliver(record), () => this.deliver(record));
    this.pending.add(delivery);
    void delivery.finally(() => this.pending.delete(delivery));
    return delivery;
  }

  /** Resolves when every delivery started so far (and any they started) has settled. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  close(): void {
    this.abort.abort();
  }

  private build(type: KeyEventType, s: KeyEventSubject): Record<string, unknown> {
    const data = {
      Id: s.kid,
      VaultName: this.o.vaultName,
      ObjectType: 'Key',
      ObjectName: s.name,
      Version: s.version,
      NBF: s.nbf ?? null,
      EXP: s.exp ?? null,
    };
    const id = randomUUID();
    const time = this.o.now().toISOString();
    const eventType = `Microsoft.KeyVault.${type}`;
    return this.o.schema === 'CloudEventSchemaV1_0'
      ? { id, source: this.o.topic, subject: s.name, type: eventType, time, data, specversion: '1.0' }
      : { id, topic: this.o.topic, subject: s.name, eventType, eventTime: time, data, dataVersion: '1', metadataVersion: '1' };
  }

  private async deliver(record: PublishedEvent): Promise<void> {
    if (!this.o.webhook) {
      record.outcome = 'no-webhook';
      return;
    }
    const cloud = this.o.schema === 'CloudEventSchemaV1_0';
    const body = JSON.stringify([record.event]);
    while (record.attempts < this.o.maxAttempts && !this.abort.signal.aborted) {
      if (record.attempts > 0) await sleep(this.o.backoffMs * 2 ** (record.attempts - 1));
      record.attempts += 1;
      try {
        const res = await fetch(this.o.webhook, {
          method: 'POST',
          body,
          signal: this.abort.signal,
          headers: {
            'Content-Type': cloud ? 'application/cloudevents-batch+json; charset=utf-8' : 'application/json; charset=utf-8',
            'aeg-event-type': 'Notification',
            'aeg-subscription-name': 'CMK-ROTATOR',
            'aeg-delivery-count': String(record.attempts - 1),
            'aeg-data-version': '1',
            'aeg-metadata-version': '1',
          },
        });
        await res.arrayBuffer();
        record.lastStatus = res.status;
        if (delivered(res.status)) {
          record.outcome = 'delivered';
          return;
        }
        if (NOT_RETRIED.has(res.status)) break;
      } catch (err) {
        // Connection errors are retried like non-2xx answers, as Event Grid does.
        record.lastError = err instanceof Error ? err.message : String(err);
      }
    }
    record.outcome = 'failed';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
