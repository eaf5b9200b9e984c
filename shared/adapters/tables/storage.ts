import type { TableClient, TableEntity, TableServiceClientOptions } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { vaultHost } from '../../domain/keys';
import { DependencyError } from '../../errors';
import { statusOf, toDependencyError } from '../azureErrors';
import { sdk } from '../sdk';

export const TABLES = {
  rotations: 'Rotations',
  findings: 'Findings',
  sweeps: 'Sweeps',
  pins: 'Pins',
  scopes: 'EncryptionScopes',
  keyRotations: 'KeyRotations',
} as const;

/** The partition of a key's rows: vault host and key name, as events name them. */
export const keyPartition = (key: { vaultUri: string; keyName: string }): string => `${vaultHost(key.vaultUri)}~${key.keyName.toLowerCase()}`;

/** A connection string (local), or the account's service endpoints with the app's identity (Azure, any cloud). */
type StorageTarget = { connectionString: string } | { tableServiceUri: string; queueServiceUri: string; credential: TokenCredential };

/** Builds one TableClient per table and creates the tables once per process. */
export class TableStorage {
  private readonly clients = new Map<string, Promise<TableClient>>();

  constructor(
    private readonly target: StorageTarget,
    private readonly options: TableServiceClientOptions = {},
  ) {}

  table(name: string): Promise<TableClient> {
    let client = this.clients.get(name);
    if (!client) {
      client = this.create(name);
      this.clients.set(name, client);
      client.catch(() => this.clients.delete(name));
    }
    return client;
  }

  private async create(name: string): Promise<TableClient> {
    const { TableClient } = await sdk.tables();
    const client =
      'connectionString' in this.target
        ? TableClient.fromConnectionString(this.target.connectionString, name, {
            ...this.options,
            allowInsecureConnection: /UseDevelopmentStorage=true|http:\/\//i.test(this.target.connectionString),
          })
        : new TableClient(this.target.tableServiceUri, name, this.target.credential, this.options);
    await client.createTable();
    return client;
  }
}

/** Runs Table Storage work; its failures become the domain's DependencyError (storage), so the edges can answer 503. */
export async function storage<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw toDependencyError(error, what, 'storage');
  }
}

/** Runs a Tables call and turns the expected status (or any of several) into a value; anything else is rethrown. */
export async function expect<T, F>(call: Promise<T>, status: number | readonly number[], fallback: F): Promise<T | F> {
  try {
    return await call;
  } catch (error) {
    const got = statusOf(error);
    if (got !== undefined && (typeof status === 'number' ? got === status : status.includes(got))) return fallback;
    throw error;
  }
}

/** The column an ETag-guarded write marks itself with, to know its own commit when its answer was lost. */
export const WRITE_ID = 'writeId';

/** Drops the system columns (and the service's odata.* annotations, which name the storage endpoint, and WRITE_ID) so an entity reads as plain data. */
export function plain<T extends object>(entity: T & { partitionKey?: string; rowKey?: string; etag?: string; timestamp?: string }): T {
  const { partitionKey: _p, rowKey: _r, etag: _e, timestamp: _t, ...rest } = entity;
  return Object.fromEntries(Object.entries(rest).filter(([k]) => !k.startsWith('odata.') && k !== WRITE_ID)) as T;
}

/** keep: the row is already ours, leave it; take: replace it (ETag-guarded); held: someone else's. */
type ClaimDecision = 'keep' | 'take' | 'held';

/** The Tables OData filter template (values escaped by the SDK). */
export async function odata(strings: TemplateStringsArray, ...values: unknown[]): Promise<string> {
  return (await sdk.tables()).odata(strings, ...values);
}

/** Races a claim loses before it gives up (retryably): each lost race means another writer made progress. */
const CLAIM_RACES = 5;

/**
 * A row that marks ownership (the sweep lock): created if absent, otherwise judged
 * by `decide` and replaced under the ETag just read. Losing a race re-reads and judges again, a few times.
 */
export async function claimRow<T extends object>(
  table: TableClient,
  entity: TableEntity<T>,
  decide: (current: T) => ClaimDecision,
): Promise<{ held: false; etag: string } | { held: true; current: T }> {
  for (let race = 0; race < CLAIM_RACES; race++) {
    const created = await expect(table.createEntity(entity), 409, undefined);
    if (created?.etag) return { held: false, etag: created.etag };
    const current = await expect(table.getEntity<T>(entity.partitionKey, entity.rowKey), 404, undefined);
    if (!current) continue;
    const decision = decide(current);
    if (decision === 'held') return { held: true, current };
    if (decision === 'keep') return { held: false, etag: current.etag };
    const replaced = await expect(table.updateEntity(entity, 'Replace', { etag: current.etag }), 412, undefined);
    if (replaced?.etag) return { held: false, etag: replaced.etag };
  }
  throw new DependencyError('claim-contended', `row ${entity.rowKey} in ${entity.partitionKey}: lost ${CLAIM_RACES} races for it`, { retryable: true, dependency: 'storage' });
}
