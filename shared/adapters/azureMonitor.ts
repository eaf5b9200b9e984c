import type { Telemetry } from '../telemetry/sink';
import { sdk } from './sdk';

/**
 * OpenTelemetry to Application Insights through @azure/monitor-opentelemetry, with the app's identity (the component
 * refuses local auth). The host keeps writing the invocation logs (traces); this adds the metrics and the spans.
 */
export async function startAzureMonitor(connectionString: string): Promise<Telemetry> {
  const [{ useAzureMonitor, shutdownAzureMonitor }, { DefaultAzureCredential }, api, { otelTelemetry, INSTRUMENTATION }] = await Promise.all([
    sdk.monitor(), sdk.identity(), import('@opentelemetry/api'), import('../telemetry/otel'),
  ]);
  useAzureMonitor({
    azureMonitorExporterOptions: { connectionString, credential: new DefaultAzureCredential() },
    // Log records already reach Application Insights through the host; sending them again would double every event.
    instrumentationOptions: { bunyan: { enabled: false }, winston: { enabled: false } },
    enableLiveMetrics: false,
  });
  return { ...otelTelemetry(api.metrics.getMeter(INSTRUMENTATION), api.trace.getTracer(INSTRUMENTATION)), shutdown: shutdownAzureMonitor };
}
