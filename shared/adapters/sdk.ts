// Each Azure SDK is loaded on its first use, not when the app starts: a function instance pays the start-up
// time only of what it calls (the Event Grid handler needs the queue client alone).

function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    loading ??= load().catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  };
}

export const sdk = {
  identity: once(() => import('@azure/identity')),
  tables: once(() => import('@azure/data-tables')),
  queues: once(() => import('@azure/storage-queue')),
  keys: once(() => import('@azure/keyvault-keys')),
  cognitiveServices: once(() => import('@azure/arm-cognitiveservices')),
  keyVaultManagement: once(() => import('@azure/arm-keyvault')),
  resourceGraph: once(() => import('@azure/arm-resourcegraph')),
  authorization: once(() => import('@azure/arm-authorization')),
  keyVaultCommon: once(() => import('@azure/keyvault-common')),
  pipeline: once(() => import('@azure/core-rest-pipeline')),
  /** OpenTelemetry to Application Insights: only when APPLICATIONINSIGHTS_CONNECTION_STRING is set (shared/telemetry/runtime.ts). */
  monitor: once(() => import('@azure/monitor-opentelemetry')),
};
