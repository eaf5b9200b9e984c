import type { LogLevel } from '@azure/functions';
import { parseEvent, type EventName } from '../shared/telemetry/catalogue';

export type LogHandler = (level: LogLevel, ...args: unknown[]) => void;

export interface LogEntry {
  at: string;
  level: LogLevel;
  functionName: string;
  invocationId: string;
  /** The line as logged: for the service's own events, one JSON object. */
  message: string;
  /** The catalogue event the line is (shared/telemetry/catalogue.ts); absent for the host's own lines. */
  event?: EventName;
  /** The event's fields, or the fields a host line was logged with. */
  fields: Record<string, unknown>;
}

/** Collects every log line of every invocation, and passes each to an optional sink. */
export class LogCollector {
  readonly entries: LogEntry[] = [];

  /** retain=false passes entries to the sink only (a long benchmark would otherwise hold every line). */
  constructor(private readonly sink?: (entry: LogEntry) => void, private readonly retain = true) {}

  handlerFor = (functionName: string, invocationId: string): LogHandler => (level, ...args) => {
    const [message, fields] = args;
    const parsed = parseEvent(String(message));
    const entry: LogEntry = {
      at: new Date().toISOString(),
      level,
      functionName,
      invocationId,
      message: String(message),
      ...(parsed ? { event: parsed.event } : {}),
      fields: parsed ? (parsed.fields as Record<string, unknown>) : fields && typeof fields === 'object' ? (fields as Record<string, unknown>) : {},
    };
    if (this.retain) this.entries.push(entry);
    this.sink?.(entry);
  };
}
