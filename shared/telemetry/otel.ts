// Telemetry over the OpenTelemetry API; loaded only when telemetry is on (Azure Monitor, or a test's exporters).
import { context, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Meter, type Tracer } from '@opentelemetry/api';
import { definedFields } from '../domain/records';
import { ServiceMetrics } from './metrics';
import type { SpanAttributes, Telemetry } from './sink';

export const INSTRUMENTATION = 'cmk-rotator';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function otelTelemetry(meter: Meter, tracer: Tracer): Telemetry {
  const metrics = new ServiceMetrics(meter);
  return {
    record: (event) => metrics.record(event),
    span(name, attributes, parent, work) {
      const parentContext = parent ? withRemoteParent(parent) : context.active();
      return tracer.startActiveSpan(name, { kind: SpanKind.CONSUMER, attributes: defined(attributes) }, parentContext, async (span) => {
        try {
          return await work((more) => span.setAttributes(defined(more)));
        } catch (error) {
          span.recordException(error as Error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
          throw error;
        } finally {
          span.end();
        }
      });
    },
    traceparent() {
      const span = trace.getSpanContext(context.active());
      if (!span || !trace.isSpanContextValid(span)) return undefined;
      return `00-${span.traceId}-${span.spanId}-${(span.traceFlags & TraceFlags.SAMPLED ? 1 : 0).toString(16).padStart(2, '0')}`;
    },
  };
}

/** The active context with a W3C traceparent as the remote parent (a malformed one starts a new trace). */
function withRemoteParent(traceparent: string) {
  const m = TRACEPARENT.exec(traceparent.trim().toLowerCase());
  if (!m) return context.active();
  return trace.setSpanContext(context.active(), { traceId: m[1] as string, spanId: m[2] as string, traceFlags: parseInt(m[3] as string, 16), isRemote: true });
}

function defined(attributes: SpanAttributes): Attributes {
  return definedFields(attributes) as Attributes;
}
