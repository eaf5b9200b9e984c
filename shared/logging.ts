import type { InvocationContext } from '@azure/functions';
import type { Logger } from './ports';
import { formatEvent, levelOf } from './telemetry/catalogue';
import { telemetry, telemetryReady } from './telemetry/runtime';
import type { SpanAttributes } from './telemetry/sink';

/**
 * Logs through the invocation, one JSON object per event: the Functions library flattens context.log's extra
 * arguments into the message text, so the event and its fields travel as the message itself. Each event also
 * becomes its metrics when telemetry is on.
 */
export function invocationLogger(context: InvocationContext): Logger {
  return {
    event(name, fields) {
      const line = formatEvent(name, fields);
      const level = levelOf(name, fields);
      if (level === 'error') context.error(line);
      else if (level === 'warn') context.warn(line);
      else context.log(line);
      telemetry().record({ event: name, fields });
    },
  };
}

/**
 * Runs a handler's work in a span (parent: a queued job's traceparent, else the host invocation's trace context),
 * with telemetry started first when APPLICATIONINSIGHTS_CONNECTION_STRING is set.
 */
export async function traced<T>(
  context: InvocationContext,
  span: { name: string; attributes: SpanAttributes; parent?: string | undefined },
  work: (log: Logger, annotate: (attributes: SpanAttributes) => void) => Promise<T>,
): Promise<T> {
  const log = invocationLogger(context);
  const problem = await telemetryReady();
  if (problem) log.event('telemetry.unavailable', { error: problem });
  return telemetry().span(span.name, span.attributes, span.parent ?? context.traceContext?.traceParent, (annotate) => work(log, annotate));
}
