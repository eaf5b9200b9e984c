// What telemetry is, apart from where it goes: the runtime switches sinks, the Azure Monitor adapter builds one.
import type { TelemetryEvent } from './catalogue';

export type SpanAttributes = Record<string, string | number | boolean | undefined>;

/**
 * Where metrics and traces go: nowhere unless APPLICATIONINSIGHTS_CONNECTION_STRING is set (then Azure Monitor through
 * OpenTelemetry, loaded on the first invocation), or what a test installs with useTelemetry.
 */
export interface Telemetry {
  /** The metrics an event stands for (shared/telemetry/metrics.ts). */
  record(event: TelemetryEvent): void;
  /** Runs `work` in a span; `parent` is a W3C traceparent (a queued job's, or the host invocation's); `annotate` adds attributes learnt on the way. */
  span<T>(name: string, attributes: SpanAttributes, parent: string | undefined, work: (annotate: (attributes: SpanAttributes) => void) => Promise<T>): Promise<T>;
  /** The active span as a traceparent, stamped on queued jobs so the next job continues the trace; undefined when off. */
  traceparent(): string | undefined;
  /** Exports what waits for the next export (metrics go every 60 s) and stops: the app is shutting down. */
  shutdown?(): Promise<void>;
}
