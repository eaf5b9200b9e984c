/** What the ARM stand-in's contract and behaviour tests share: SDK clients, seed accounts and a stand-in per test. */
import { CognitiveServicesManagementClient } from '@azure/arm-cognitiveservices';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { startArmStandIn, type ArmStandIn, type ArmStandInOptions } from '../../dev/armStandIn';
import { request } from 'node:https';
import { localCredential } from '../../dev/credential';
import { localCa } from '../../dev/tls';

export const sub = '00000000-1111-2222-3333-444444444444';
/** Poll long-running operations without waiting. */
export const fast = { updateIntervalInMs: 1 };
export const accountPath = (rg: string, name: string): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.CognitiveServices/accounts/${name}`;
/** A local HTTPS server: a stand-in or one serving a recorded answer. */
export interface Server {
  url: string;
  ca: string;
}
const clientOptions = ({ url, ca }: Server) => ({
  endpoint: url,
  tlsOptions: { ca },
  retryOptions: { retryDelayInMs: 5, maxRetryDelayInMs: 50 },
});
export const csClient = (server: Server, subscriptionId = sub) =>
  new CognitiveServicesManagementClient(localCredential, subscriptionId, clientOptions(server));
export const kvClient = (server: Server, subscriptionId = sub) =>
  new KeyVaultManagementClient(localCredential, subscriptionId, clientOptions(server));
/** This SDK generation builds its URLs from $host. */
export const authClient = (server: Server, subscriptionId = sub) =>
  new AuthorizationManagementClient(localCredential, subscriptionId, { ...clientOptions(server), $host: server.url.replace(/\/$/, '') });

const vaultKey = { keyName: 'cmk', keyVaultUri: 'https://kv1.vault.azure.net/' };
export const encryption = (keyVersion: string) => ({
  keySource: 'Microsoft.KeyVault',
  keyVaultProperties: { ...vaultKey, keyVersion } as Record<string, string>,
});

export function cmkAccount(rg: string, name: string, keyVersion = 'v1') {
  return {
    id: accountPath(rg, name), name, type: 'Microsoft.CognitiveServices/accounts', location: 'eastus', kind: 'OpenAI',
    identity: { type: 'SystemAssigned', principalId: 'p', tenantId: 't' },
    properties: {
      provisioningState: 'Succeeded', endpoint: `https://${name}.openai.azure.com/`, encryption: encryption(keyVersion),
    } as Record<string, unknown>,
  };
}

export async function withStandIn(
  options: ArmStandInOptions,
  body: (standIn: ArmStandIn) => Promise<void>,
): Promise<void> {
  const standIn = await startArmStandIn(options);
  try {
    await body(standIn);
  } finally {
    await standIn.close();
  }
}

/** Every item of a paged list, sorted by id without regard to case. */
export async function collect<T extends { id?: string }>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all.sort((a, b) => (a.id ?? '').toLowerCase().localeCompare((b.id ?? '').toLowerCase()));
}

/** A REST API example from the fixtures: the request's parameters and the responses by status. */
export interface Example {
  operationId?: string;
  parameters: Record<string, any>;
  responses?: Record<string, { body?: any }>;
}

export const bearer = { authorization: 'Bearer x' };
export interface RawAnswer { status: number; headers: Record<string, string | string[] | undefined>; body: any }

export async function raw(url: string, method: string, headers: Record<string, string> = {}, body?: string): Promise<RawAnswer> {
  const ca = await localCa();
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, ca }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The SDKs' RestError, matched by name: @azure/core-rest-pipeline is not a direct dependency. */
export function restError(e: unknown, statusCode: number): e is Error & { statusCode: number; code?: string } {
  return e instanceof Error && e.name === 'RestError' && (e as { statusCode?: number }).statusCode === statusCode;
}

/** A stand-in on a clock the test moves, and raw HTTPS calls to it. */
export function manualClock(start = '2026-01-01T00:00:00Z') {
  let at = Date.parse(start);
  return { now: () => new Date(at), advance: (ms: number) => (at += ms) };
}

