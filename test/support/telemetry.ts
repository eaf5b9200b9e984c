// In-memory OpenTelemetry exporters behind the service's telemetry (shared/telemetry/otel.ts), as Azure Monitor's
// would be: metrics through a reader, spans through a processor, and the AsyncLocalStorage context the SDK registers.
import { context, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { otelTelemetry } from '../../shared/telemetry/otel';
import { useTelemetry } from '../../shared/telemetry/runtime';

export interface InMemoryTelemetry {
  /** Every data point of one metric, as the exporter last received them (cumulative). */
  points(metric: string): Promise<Array<DataPoint<number | Histogram>>>;
  /** The data points of one metric the exporter has received so far, without asking for an export. */
  exported(metric: string): Array<DataPoint<number | Histogram>>;
  spans(): ReadableSpan[];
  stop(): Promise<void>;
}

export function installInMemoryTelemetry(): InMemoryTelemetry {
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Exported on demand (forceFlush), never on a timer.
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meters = new MeterProvider({ readers: [reader] });
  const spanExporter = new InMemorySpanExporter();
  const tracers = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  // As Azure Monitor's: shutting down exports what the reader holds.
  useTelemetry({ ...otelTelemetry(meters.getMeter('test'), tracers.getTracer('test')), shutdown: () => reader.forceFlush() });
  const exported = (metric: string) => metricExporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
    .filter((m) => m.descriptor.name === metric).flatMap((m) => m.dataPoints as Array<DataPoint<number | Histogram>>);
  return {
    async points(metric) {
      metricExporter.reset();
      await reader.forceFlush();
      return exported(metric);
    },
    exported,
    spans: () => spanExporter.getFinishedSpans(),
    async stop() {
      useTelemetry(undefined);
      await meters.shutdown();
      await tracers.shutdown();
      contextManager.disable();
      context.disable();
    },
  };
}

/** The value of the point whose attributes include these. */
export function pointWith<T>(points: Array<DataPoint<T>>, attributes: Attributes): DataPoint<T> | undefined {
  return points.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));
}
