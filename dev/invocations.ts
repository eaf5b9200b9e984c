import type { LogLevel } from '@azure/functions';

export type LogHandler = (level: LogLevel, ...args: unknown[]) => void;

export interface LogEntry {
  at: string;
  level: LogLevel;
  functionName: string;
  invocationId: string;
  message: string;
  fields: Record<string, unknown>;
}

/** Collects every log line of every invocation, and passes each to an optional sink. */
export class LogCollector {
  readonly entries: LogEntry[] = [];

  /** retain=false passes entries to the sink only (a long benchmark would otherwise hold every line). */
  constructor(private readonly sink?: (entry: LogEntry) => void, private readonly retain = true) {}

  handlerFor = (functionName: string, invocationId: string): LogHandler => (level, ...args) => {
    const [message, fields] = args;
    const entry: LogEntry = {
      at: new Date().toISOString(),
      level,
      functionName,
      invocationId,
      message: String(message),
      fields: fields && typeof fields === 'object' ? (fields as Record<string, unknown>) : {},
    };
    if (this.retain) this.entries.push(entry);
    this.sink?.(entry);
  };
}
