// Key Vault events off the wire: both schemas, any casing, stray spaces in keys and values (DESIGN §3).
import { KEY_NAME, KEY_VERSION } from './keys';

const KEY_EVENT_TYPES = ['KeyNewVersionCreated', 'KeyNearExpiry', 'KeyExpired'] as const;
type KeyEventType = (typeof KEY_EVENT_TYPES)[number];

interface KeyVaultKeyEvent {
  id: string;
  type: KeyEventType;
  /** Vault URI with a trailing slash, from the versioned key id in data.Id. */
  vaultUri: string;
  vaultName?: string;
  keyName: string;
  version: string;
  notBefore?: Date;
  expiresOn?: Date;
  /** The vault's ARM id (Event Grid `topic`, CloudEvents `source`). */
  vaultResourceId?: string;
  /** When Key Vault raised it (Event Grid `eventTime`, CloudEvents `time`), in ISO form. */
  time: string;
}

type NormalisedEvent =
  | { kind: 'key-event'; event: KeyVaultKeyEvent }
  | { kind: 'ignored'; reason: string; eventType?: string }
  | { kind: 'invalid'; problem: string };

const PREFIX = 'microsoft.keyvault.';
// Key Vault's own limits (KEY_NAME, KEY_VERSION too): an event outside them cannot be real, and must not become a job that fails later.
/** The first millisecond of year 10000, which ISO 8601's four-digit years cannot write. */
const LAST_ISO_MS = Date.UTC(10_000, 0, 1);

/** RFC 3339's date-time, as Event Grid's eventTime and CloudEvents' time are written (fractions of any length). */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|[+-](\d{2}):(\d{2}))$/i;

/**
 * Milliseconds of an RFC 3339 date-time from 1970 to 9999 (the jobs carry it in ISO form, and ledger rows sort by
 * it); undefined for anything else, where Date.parse reads "1", "foo 2024" or 30 February as some date.
 */
function rfc3339Ms(text: string): number | undefined {
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, offsetHours = 0, offsetMinutes = 0] =
    RFC3339.exec(text)?.slice(1).map((part) => Number(part ?? 0)) ?? [];
  const date = new Date(Date.UTC(year, month - 1, day));
  const valid = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
    && hour < 24 && minute < 60 && second < 60 && offsetHours < 24 && offsetMinutes < 60;
  const at = Date.parse(text);
  return valid && at >= 0 && at < LAST_ISO_MS ? at : undefined;
}

const LIMITS = { eventBytes: 64 * 1024, id: 128, kid: 512, host: 253, topic: 512, vaultName: 64, time: 64 } as const;

/** Reads `data` and envelope fields case-insensitively, with keys and string values trimmed. */
function lowerKeys(value: unknown): Map<string, unknown> {
  const map = new Map<string, unknown>();
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      map.set(k.trim().toLowerCase(), typeof v === 'string' ? v.trim() : v);
    }
  }
  return map;
}

function str(map: Map<string, unknown>, ...names: string[]): string | undefined {
  for (const name of names) {
    const v = map.get(name);
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

/** NBF / EXP arrive as epoch seconds in a number, a numeric string, or null. */
function epochSeconds(value: unknown, field: string): { ok: true; date?: Date } | { ok: false; problem: string } {
  if (value === undefined || value === null || value === '') return { ok: true };
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < 0) return { ok: false, problem: `data.${field} must be epoch seconds (got ${JSON.stringify(value)})` };
  // Past year 9999 a date has no ISO form for the job to carry: such a claim of the event is left out (the key is read again anyway).
  return n * 1000 < LAST_ISO_MS ? { ok: true, date: new Date(n * 1000) } : { ok: true };
}

export function normaliseKeyVaultEvent(raw: unknown): NormalisedEvent {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    return { kind: 'invalid', problem: 'event must be a JSON object' };
  }
  const size = Buffer.byteLength(JSON.stringify(raw));
  if (size > LIMITS.eventBytes) return { kind: 'invalid', problem: `event is ${size} bytes; a Key Vault event is a few hundred` };
  const envelope = lowerKeys(raw);
  const eventType = str(envelope, 'eventtype', 'type');
  if (!eventType) return { kind: 'invalid', problem: 'event has no eventType (Event Grid) or type (CloudEvents)' };
  if (!eventType.toLowerCase().startsWith(PREFIX)) {
    return { kind: 'ignored', reason: 'not a Key Vault event', eventType };
  }
  const shortType = KEY_EVENT_TYPES.find((t) => t.toLowerCase() === eventType.slice(PREFIX.length).toLowerCase());
  if (!shortType) return { kind: 'ignored', reason: 'not a key version event', eventType };

  const id = str(envelope, 'id');
  if (!id) return { kind: 'invalid', problem: 'event has no id' };
  if (id.length > LIMITS.id) return { kind: 'invalid', problem: `event id is ${id.length} characters (at most ${LIMITS.id})` };
  const data = lowerKeys(envelope.get('data'));
  if (data.size === 0) return { kind: 'invalid', problem: `event ${id} has no data object` };

  const objectType = str(data, 'objecttype');
  if (objectType && objectType.toLowerCase() !== 'key') {
    return { kind: 'ignored', reason: `object type ${objectType} is not Key`, eventType };
  }

  const kid = str(data, 'id');
  if (!kid) return { kind: 'invalid', problem: `event ${id}: data.Id (the versioned key id) is missing` };
  if (kid.length > LIMITS.kid) return { kind: 'invalid', problem: `event ${id}: data.Id is ${kid.length} characters (at most ${LIMITS.kid})` };
  let parsed: URL;
  try {
    parsed = new URL(kid);
  } catch {
    return { kind: 'invalid', problem: `event ${id}: data.Id is not a URL (${kid})` };
  }
  const segments = parsed.pathname.split('/').filter(Boolean);
  if (parsed.protocol !== 'https:' || segments.length !== 3 || segments[0]?.toLowerCase() !== 'keys') {
    return { kind: 'invalid', problem: `event ${id}: data.Id must look like https://<vault>/keys/<name>/<version> (got ${kid})` };
  }
  const keyName = str(data, 'objectname') ?? segments[1] ?? '';
  const version = str(data, 'version') ?? segments[2] ?? '';
  if (keyName.toLowerCase() !== segments[1]?.toLowerCase() || version.toLowerCase() !== segments[2]?.toLowerCase()) {
    return { kind: 'invalid', problem: `event ${id}: data.ObjectName/Version disagree with data.Id (${kid})` };
  }
  if (!KEY_VERSION.test(version)) return { kind: 'invalid', problem: `event ${id}: data.Version must be 32 hex characters (got "${version.slice(0, 40)}")` };
  if (!KEY_NAME.test(keyName)) return { kind: 'invalid', problem: `event ${id}: "${keyName.slice(0, 40)}" is not a Key Vault key name (1-127 letters, digits, dashes)` };
  if (parsed.hostname.length > LIMITS.host || parsed.username || parsed.password || parsed.search || parsed.hash) {
    return { kind: 'invalid', problem: `event ${id}: data.Id is not a key id Key Vault issues (${kid.slice(0, 80)})` };
  }

  const nbf = epochSeconds(data.get('nbf'), 'NBF');
  if (!nbf.ok) return { kind: 'invalid', problem: `event ${id}: ${nbf.problem}` };
  const exp = epochSeconds(data.get('exp'), 'EXP');
  if (!exp.ok) return { kind: 'invalid', problem: `event ${id}: ${exp.problem}` };
  // Every delivery of the event names the same jobs, and their ledger rows sort by this time: it must come with it.
  const time = str(envelope, 'eventtime', 'time');
  if (!time) return { kind: 'invalid', problem: `event ${id} has no eventTime (Event Grid) or time (CloudEvents)` };
  const at = time.length > LIMITS.time ? undefined : rfc3339Ms(time);
  if (at === undefined) return { kind: 'invalid', problem: `event ${id}: eventTime is not an RFC 3339 date-time from 1970 to 9999 (${time.slice(0, LIMITS.time)})` };

  const event: KeyVaultKeyEvent = {
    id,
    type: shortType,
    vaultUri: `https://${parsed.host.toLowerCase()}/`,
    keyName,
    version: version.toLowerCase(),
    time: new Date(at).toISOString(),
  };
  const vaultName = str(data, 'vaultname');
  const vaultResourceId = str(envelope, 'topic', 'source');
  if (vaultName && vaultName.length <= LIMITS.vaultName) event.vaultName = vaultName;
  if (vaultResourceId && vaultResourceId.length <= LIMITS.topic) event.vaultResourceId = vaultResourceId;
  if (nbf.date) event.notBefore = nbf.date;
  if (exp.date) event.expiresOn = exp.date;
  return { kind: 'key-event', event };
}
