import type { Telemetry } from './sink';

const OFF: Telemetry = {
  record: () => undefined,
  span: (_name, _attributes, _parent, work) => work(() => undefined),
  traceparent: () => undefined,
};

let current: Telemetry = OFF;
let starting: Promise<string | undefined> | undefined;

export function telemetry(): Telemetry {
  return current;
}

/** Installs a sink (tests: in-memory exporters), or switches telemetry off again. */
export function useTelemetry(next: Telemetry | undefined): void {
  current = next ?? OFF;
  starting = undefined;
}

/**
 * The app is shutting down (its instance scaled in, or replaced): what the sink has not exported yet is exported now,
 * or it is lost with the instance. Never throws.
 */
export async function shutdownTelemetry(): Promise<void> {
  await current.shutdown?.().catch(() => undefined);
}

/**
 * Starts Azure Monitor once per process when APPLICATIONINSIGHTS_CONNECTION_STRING is set; a no-op otherwise. Never
 * throws: telemetry that cannot start must not stop a rotation. Resolves to the reason, once, when it could not start.
 */
export function telemetryReady(env: Record<string, string | undefined> = process.env): Promise<string | undefined> {
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim();
  if (!connectionString || current !== OFF) return Promise.resolve(undefined);
  if (starting) return starting.then(() => undefined);
  starting = import('../adapters/azureMonitor').then(
    async ({ startAzureMonitor }) => {
      current = await startAzureMonitor(connectionString);
      return undefined;
    },
  ).catch((error: unknown) => `Azure Monitor did not start: ${error instanceof Error ? error.message : String(error)}`);
  return starting;
}
