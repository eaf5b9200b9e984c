import { FaultInjector, type FaultRule } from './faults';
import { listenHttps } from './tls';
import { EventPublisher, type EventSchema, type KeyEventType, type PublishedEvent } from './keyVault/events';
import { createKeyVaultHandler, type RequestRecord } from './keyVault/http';
import { epochSeconds } from './keyVault/model';
import { HsmRbac, type RbacRead } from './keyVault/rbac';
import { VaultState, type Found } from './keyVault/vault';
import { Wire } from './keyVault/wire';

export type { KeyEventType, PublishedEvent, EventSchema } from './keyVault/events';
export type { RequestRecord } from './keyVault/http';
export { VaultError } from './keyVault/wire';

const ZERO_GUID = '00000000-0000-0000-0000-000000000000';
const EC_CURVE_BY_SIZE: Record<number, string> = { 256: 'P-256', 384: 'P-384', 521: 'P-521' };

export interface KeyVaultStandInOptions {
  /** Vault name, e.g. 'cmk-demo' (used in events and error messages). */
  name: string;
  /**
   * Serve as a Managed HSM: the URI is `https://<name>.managedhsm.localhost:<port>/` (clients reach it through
   * dev/tls.ts loopbackAgent), the challenge names https://managedhsm.azure.net, new keys default to RSA-HSM, the
   * local RBAC routes answer, and no Event Grid key events are published (Managed HSM has none, DESIGN §9).
   */
  managedHsm?: boolean;
  tenantId?: string;
  /** Default /subscriptions/<zero guid>/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/<name>. */
  armId?: string;
  /** Default 'Recoverable' (soft delete + purge protection); e.g. 'Recoverable+Purgeable' or 'Purgeable'. */
  recoveryLevel?: string;
  /** Soft-delete retention shown as attributes.recoverableDays; default 90 when soft delete is on. */
  recoverableDays?: number;
  location?: string;
  /** URL the system topic posts events to (http or https). */
  eventWebhook?: string;
  eventSchema?: EventSchema;
  /** Tries per event delivery, the first included (default 4). */
  deliveryAttempts?: number;
  /** First retry back-off; doubles per retry (default 20 ms). */
  deliveryBackoffMs?: number;
  /** Page size of GET /keys and GET /keys/{name}/versions when the client sends no maxresults (default 25). */
  versionsPageSize?: number;
  /** Delay before each response. */
  latencyMs?: number;
  /** Every list page with items is preceded by an empty page that still carries nextLink (the service does this). */
  emptyPages?: boolean;
  /**
   * Lists' nextLinks point at this base URL instead of the vault's own, as a service sending its client elsewhere
   * would; a Managed HSM's role lists, otherwise one page, then carry a nextLink there too.
   */
  nextLinkBase?: string;
  /** Clock for created/updated (whole epoch seconds, as the service keeps them): versions made in one second tie. */
  now?: () => Date;
  /** Random source of probabilistic faults (seed it to repeat a run). */
  random?: () => number;
}

export interface SeedKeyOptions {
  kty?: 'RSA' | 'RSA-HSM' | 'EC' | 'EC-HSM';
  /** RSA modulus bits (2048, 3072, 4096) or EC curve bits (256, 384, 521). */
  size?: number;
  keyOps?: string[];
  enabled?: boolean;
  notBefore?: Date;
  expiresOn?: Date;
  createdOn?: Date;
  tags?: Record<string, string>;
  /** Emit KeyNewVersionCreated (default true). */
  publish?: boolean;
}

interface AttributeChanges {
  enabled?: boolean;
  /** null removes the attribute. */
  notBefore?: Date | null;
  expiresOn?: Date | null;
}

export interface KeyVaultStandIn {
  /** https://127.0.0.1:<port>/, or https://<name>.managedhsm.localhost:<port>/ for a Managed HSM */
  vaultUri: string;
  managedHsm: boolean;
  /** The PEM its clients must trust. */
  ca: string;
  armId: string;
  name: string;
  /** Adds a version (the first creates the key); resolves before its event is delivered. */
  createKey(name: string, options?: SeedKeyOptions): Promise<{ version: string; kid: string }>;
  setAttributes(name: string, version: string, changes: AttributeChanges): void;
  /** Soft-deletes the key: later requests for it answer 404 KeyNotFound. */
  deleteKey(name: string): void;
  /** GETs of that key answer 403 Forbidden, as when the caller lacks the permission. */
  denyAccess(name: string, denied?: boolean): void;
  /** Injects a fault for matching authorised requests (a Key Vault error answer, or a connection reset). */
  fail(rule: FaultRule): void;
  clearFaults(): void;
  /** Requests answered by each injected fault kind ("429", "503", "reset", ...). */
  faultHits: ReadonlyMap<string, number>;
  /** Managed HSM local RBAC: assigns a role (name or id) at '/', '/keys' or '/keys/<name>'. */
  assignRole(principalId: string, role: string, scope?: string): string;
  /** Managed HSM local RBAC: a custom role; returns its id (a GUID). */
  defineRole(roleName: string, dataActions: string[], notDataActions?: string[]): string;
  /** Managed HSM local RBAC: answer 403 to reads of role assignments or definitions, as for a caller without the read data action. */
  denyRbacRead(what: RbacRead, denied?: boolean): void;
  /** Emits an event as the system topic would; resolves when its delivery succeeded or was given up. */
  publish(eventType: KeyEventType, name: string, version: string): Promise<void>;
  /** Resolves when every webhook delivery started so far has finished. */
  deliveriesSettled(): Promise<void>;
  requests: RequestRecord[];
  events: PublishedEvent[];
  close(): Promise<void>;
}

/** Starts one stand-in vault: the Key Vault keys data-plane API over HTTPS on a free loopback port. */
export async function startKeyVaultStandIn(o: KeyVaultStandInOptions): Promise<KeyVaultStandIn> {
  const now = o.now ?? (() => new Date());
  const recoveryLevel = o.recoveryLevel ?? 'Recoverable';
  const softDelete = recoveryLevel !== 'Purgeable';
  const hsm = o.managedHsm ?? false;
  const armId = o.armId ?? `/subscriptions/${ZERO_GUID}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/${hsm ? 'managedHSMs' : 'vaults'}/${o.name}`;
  let vaultUri = '';
  const state = new VaultState(now, softDelete);
  const wire = new Wire(() => vaultUri, recoveryLevel, softDelete ? (o.recoverableDays ?? 90) : undefined);
  const events = new EventPublisher({
    // Managed HSM publishes no key events: nothing reaches the webhook.
    webhook: hsm ? undefined : o.eventWebhook,
    schema: o.eventSchema ?? 'EventGridSchema',
    topic: armId,
    vaultName: o.name,
    now,
    maxAttempts: o.deliveryAttempts ?? 4,
    backoffMs: o.deliveryBackoffMs ?? 20,
  });
  const emit = (type: KeyEventType, { entry, v }: Found, after?: Promise<void>): Promise<void> =>
    hsm ? Promise.resolve() : events.publish(type, { kid: wire.kid(entry.name, v.version), name: entry.name, version: v.version, nbf: v.nbf, exp: v.exp }, after);
  const tenantId = o.tenantId ?? ZERO_GUID;
  const rbac = hsm ? new HsmRbac(tenantId) : undefined;
  const needRbac = (): HsmRbac => {
    if (!rbac) throw new Error(`${o.name} is a vault, not a Managed HSM: it has no local RBAC`);
    return rbac;
  };
  const requests: RequestRecord[] = [];
  const faults = new FaultInjector(o.random);

  const server = await listenHttps(createKeyVaultHandler({
    state, wire, requests, faults,
    emptyPages: o.emptyPages ?? false,
    ...(o.nextLinkBase !== undefined ? { nextLinkBase: o.nextLinkBase } : {}),
    vaultUri: () => vaultUri,
    vaultName: o.name,
    tenantId,
    challengeResource: hsm ? 'https://managedhsm.azure.net' : 'https://vault.azure.net',
    ...(rbac ? { rbac } : {}),
    location: o.location ?? 'westeurope',
    pageSize: o.versionsPageSize ?? 25,
    latencyMs: o.latencyMs ?? 0,
    onNewVersion: (found, sent) => void emit('KeyNewVersionCreated', found, sent),
  }));
  vaultUri = hsm ? `https://${o.name}.managedhsm.localhost:${server.port}/` : server.url;

  return {
    vaultUri, managedHsm: hsm, ca: server.ca, armId, name: o.name, requests,
    events: events.published,
    async createKey(name, k = {}) {
      const ec = k.kty?.startsWith('EC') ?? false;
      const found = state.addVersion(name, {
        kty: k.kty ?? (hsm ? 'RSA-HSM' : undefined),
        size: ec ? undefined : k.size,
        crv: ec && k.size !== undefined ? (EC_CURVE_BY_SIZE[k.size] ?? `P-${k.size}`) : undefined,
        keyOps: k.keyOps,
        enabled: k.enabled,
        nbf: k.notBefore && epochSeconds(k.notBefore),
        exp: k.expiresOn && epochSeconds(k.expiresOn),
        created: k.createdOn && epochSeconds(k.createdOn),
        tags: k.tags,
      });
      if (k.publish !== false) void emit('KeyNewVersionCreated', found);
      return { version: found.v.version, kid: wire.kid(found.entry.name, found.v.version) };
    },
    setAttributes(name, version, c) {
      state.update(name, version, {
        enabled: c.enabled,
        nbf: c.notBefore === null ? null : c.notBefore && epochSeconds(c.notBefore),
        exp: c.expiresOn === null ? null : c.expiresOn && epochSeconds(c.expiresOn),
      });
    },
    deleteKey: (name) => state.delete(name),
    fail: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
    faultHits: faults.hits,
    denyAccess: (name, denied = true) => state.deny(name, denied),
    assignRole: (principalId, role, scope) => needRbac().assign(principalId, role, scope),
    defineRole: (roleName, dataActions, notDataActions) => needRbac().defineRole(roleName, dataActions, notDataActions),
    denyRbacRead: (what, denied = true) => void (denied ? needRbac().denied.add(what) : needRbac().denied.delete(what)),
    publish: async (eventType, name, version) => emit(eventType, state.find(name, version)),
    deliveriesSettled: () => events.settled(),
    async close() {
      events.close();
      await server.close();
    },
  };
}
