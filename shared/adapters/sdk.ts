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

/**
 * A client per key (a management client per subscription, each bound to one; an HSM's pipeline per origin), built on
 * the first call for it and shared after; a build that failed is tried again. `build` never runs here, so a class
 * field may close over constructor parameters.
 */
export function perKey<T>(build: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const clients = new Map<string, Promise<T>>();
  return (key) => {
    let client = clients.get(key);
    if (!client) {
      client = build(key);
      clients.set(key, client);
      client.catch(() => clients.delete(key));
    }
    return client;
  };
}

/** ARM_ENDPOINT and its token scope under the names each generation of the management SDKs reads them by. */
export function armClientOptions(endpoint: string): { endpoint: string; $host: string; credentialScopes: string[]; credentials: { scopes: string[] } } {
  const url = endpoint.replace(/\/+$/, '');
  const scopes = [`${url}/.default`];
  return { endpoint: url, $host: url, credentialScopes: scopes, credentials: { scopes } };
}
