import {
  EC_CURVES, KEY_OPERATIONS, KEY_TYPES, RSA_SIZES, defaultKeyOps, epochSeconds, newVersionId,
  parseDuration, publicMaterial,
  type KeyEntry, type KeyType, type KeyVersion, type LifetimeAction,
} from './model';
import { KEY_NAME } from '../../shared/domain/keys';
import { VaultError, badParameter, keyNotFound } from './wire';

export interface NewVersionSpec {
  kty?: string;
  size?: number;
  crv?: string;
  keyOps?: string[];
  enabled?: boolean;
  nbf?: number;
  exp?: number;
  /** Epoch seconds; backdates the version (seeding only). */
  created?: number;
  tags?: Record<string, string>;
}

export interface VersionPatch {
  enabled?: boolean;
  /** null removes the attribute (seeding only: the wire cannot express it). */
  nbf?: number | null;
  exp?: number | null;
  keyOps?: string[];
  tags?: Record<string, string>;
}

export interface PolicySpec {
  lifetimeActions?: LifetimeAction[];
  expiryTime?: string;
}

export interface Found {
  entry: KeyEntry;
  v: KeyVersion;
}

export interface Page<T> {
  items: T[];
  /** The sort marker of the first item (where a link back to this page starts). */
  start?: string;
  nextMarker?: string;
}

/** The in-memory state of one vault and the rules Key Vault applies to it. */
export class VaultState {
  private readonly keys = new Map<string, KeyEntry>();
  private readonly denied = new Set<string>();

  constructor(
    private readonly now: () => Date,
    private readonly softDelete: boolean,
  ) {}

  /** Whether the key exists (and is not deleted). */
  exists(name: string): boolean {
    checkName(name);
    const entry = this.keys.get(name.toLowerCase());
    return entry !== undefined && !entry.deleted && entry.versions.size > 0;
  }

  entry(name: string): KeyEntry {
    checkName(name);
    const entry = this.keys.get(name.toLowerCase());
    if (!entry || entry.deleted || entry.versions.size === 0) throw keyNotFound(name);
    return entry;
  }

  /** A version by id, or the current (most recently created) one when `version` is empty. */
  find(name: string, version?: string): Found {
    const entry = this.entry(name);
    if (!version) return { entry, v: latest(entry) };
    const v = entry.versions.get(version.toLowerCase());
    if (!v) throw keyNotFound(`${name}/${version}`);
    return { entry, v };
  }

  /** CreateKey: the first version creates the key, later ones add versions. */
  addVersion(name: string, spec: NewVersionSpec): Found {
    checkName(name);
    const kty = (spec.kty ?? 'RSA') as KeyType;
    if (!KEY_TYPES.includes(kty)) throw badParameter(`The value '${spec.kty}' of property 'kty' is not supported by this vault.`);
    const isRsa = kty.startsWith('RSA');
    const size = isRsa ? (spec.size ?? 2048) : undefined;
    if (size !== undefined && !RSA_SIZES.includes(size)) throw badParameter(`RSA key size ${size} is not supported; use 2048, 3072 or 4096.`);
    const crv = isRsa ? undefined : (spec.crv ?? 'P-256');
    if (crv !== undefined && !(crv in EC_CURVES)) throw badParameter(`The curve '${crv}' is not supported.`);
    const keyOps = spec.keyOps ?? defaultKeyOps(kty);
    checkKeyOps(keyOps);

    const key = name.toLowerCase();
    let entry = this.keys.get(key);
    if (entry?.deleted) {
      if (this.softDelete) {
        throw new VaultError(409, 'Conflict', `Key ${entry.name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.`);
      }
      entry = undefined;
    }
    if (!entry) {
      entry = { name, versions: new Map(), nextSeq: 0, deleted: false };
      this.keys.set(key, entry);
    }
    const created = spec.created ?? epochSeconds(this.now());
    const v: KeyVersion = {
      version: newVersionId(),
      seq: entry.nextSeq++,
      kty, size, crv, keyOps: [...keyOps],
      enabled: spec.enabled ?? true,
      nbf: spec.nbf, exp: spec.exp,
      created, updated: created,
      tags: spec.tags ? { ...spec.tags } : undefined,
      material: publicMaterial(kty, size, crv),
    };
    entry.versions.set(v.version, v);
    return { entry, v };
  }

  /** RotateKey: a new version like the current one; the policy's expiryTime sets its expiry. */
  rotate(name: string): Found {
    const { entry, v } = this.find(name);
    const now = this.now();
    const expiry = entry.policy?.expiryTime ? parseDuration(entry.policy.expiryTime) : undefined;
    return this.addVersion(entry.name, {
      kty: v.kty, size: v.size, crv: v.crv, keyOps: v.keyOps, tags: v.tags,
      exp: expiry ? epochSeconds(expiry(now)) : undefined,
    });
  }

  update(name: string, version: string | undefined, patch: VersionPatch): Found {
    const found = this.find(name, version);
    if (patch.keyOps) checkKeyOps(patch.keyOps);
    const { v } = found;
    if (patch.enabled !== undefined) v.enabled = patch.enabled;
    if (patch.nbf !== undefined) v.nbf = patch.nbf ?? undefined;
    if (patch.exp !== undefined) v.exp = patch.exp ?? undefined;
    if (patch.keyOps) v.keyOps = [...patch.keyOps];
    if (patch.tags) v.tags = { ...patch.tags };
    v.updated = Math.max(v.created, epochSeconds(this.now()));
    return found;
  }

  setPolicy(name: string, spec: PolicySpec): KeyEntry {
    const entry = this.entry(name);
    if (spec.expiryTime !== undefined && !parseDuration(spec.expiryTime)) {
      throw badParameter(`The expiryTime '${spec.expiryTime}' is not a valid ISO 8601 duration.`);
    }
    const actions = (spec.lifetimeActions ?? []).map(checkAction);
    // The service adds its default Notify action when the policy names none.
    if (!actions.some((a) => a.action.type.toLowerCase() === 'notify')) {
      actions.push({ trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Notify' } });
    }
    const now = epochSeconds(this.now());
    entry.policy = { lifetimeActions: actions, expiryTime: spec.expiryTime, created: entry.policy?.created ?? now, updated: now };
    return entry;
  }

  delete(name: string): void {
    this.entry(name).deleted = true;
  }

  deny(name: string, denied: boolean): void {
    if (denied) this.denied.add(name.toLowerCase());
    else this.denied.delete(name.toLowerCase());
  }

  isDenied(name: string): boolean {
    return this.denied.has(name.toLowerCase());
  }

  /** Versions in the service's order: by upper-cased version id (its continuation markers show that). */
  versionsPage(name: string, marker: string | undefined, max: number): Page<Found> {
    const entry = this.entry(name);
    const rows = [...entry.versions.values()].map((v) => ({ sort: `key/${entry.name.toUpperCase()}/${v.version.toUpperCase()}`, item: { entry, v } }));
    return paginate(rows, marker, max);
  }

  keysPage(marker: string | undefined, max: number): Page<Found> {
    const rows = [...this.keys.values()]
      .filter((e) => !e.deleted && e.versions.size > 0)
      .map((entry) => ({ sort: `key/${entry.name.toUpperCase()}`, item: { entry, v: latest(entry) } }));
    return paginate(rows, marker, max);
  }
}

function latest(entry: KeyEntry): KeyVersion {
  let newest: KeyVersion | undefined;
  for (const v of entry.versions.values()) if (!newest || v.seq > newest.seq) newest = v;
  if (!newest) throw keyNotFound(entry.name);
  return newest;
}

function paginate<T>(rows: Array<{ sort: string; item: T }>, marker: string | undefined, max: number): Page<T> {
  const sorted = rows.sort((a, b) => (a.sort < b.sort ? -1 : a.sort > b.sort ? 1 : 0));
  const rest = marker === undefined ? sorted : sorted.filter((r) => r.sort >= marker);
  const next = rest[max];
  return { items: rest.slice(0, max).map((r) => r.item), start: rest[0]?.sort, nextMarker: next?.sort };
}

function checkName(name: string): void {
  if (!KEY_NAME.test(name)) throw badParameter(`The request URI contains an invalid name: ${name}`);
}

function checkKeyOps(ops: string[]): void {
  const bad = ops.find((op) => !(KEY_OPERATIONS as readonly string[]).includes(op));
  if (bad !== undefined) throw badParameter(`The key operation '${bad}' is not valid.`);
}

function checkAction(a: LifetimeAction): LifetimeAction {
  const type = a?.action?.type;
  if (typeof type !== 'string' || !['rotate', 'notify'].includes(type.toLowerCase())) {
    throw badParameter(`Lifetime action type '${String(type)}' is not valid; use Rotate or Notify.`);
  }
  const { timeAfterCreate, timeBeforeExpiry } = a.trigger ?? {};
  const given = [timeAfterCreate, timeBeforeExpiry].filter((t) => t !== undefined);
  if (given.length !== 1 || typeof given[0] !== 'string' || !parseDuration(given[0])) {
    throw badParameter('A lifetime action trigger needs exactly one of timeAfterCreate or timeBeforeExpiry as an ISO 8601 duration.');
  }
  return {
    trigger: timeAfterCreate !== undefined ? { timeAfterCreate } : { timeBeforeExpiry },
    action: { type },
  };
}
