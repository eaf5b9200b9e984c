// App settings, read and validated once: a bad value stops start-up with a message naming the setting.
import { parseSchedule } from './schedule';

export type SweepMode = 'report' | 'enforce';
type Discovery = 'resource-graph' | 'arm';
export type NearExpiryAction = 'rotate' | 'bind-newer' | 'notify';

export interface Config {
  /**
   * Connection string (local), or identity-based: the table and queue endpoints from
   * `AzureWebJobsStorage__tableServiceUri` / `__queueServiceUri` (any cloud), else from `__accountName` (public cloud).
   */
  storage: { connectionString: string } | { tableServiceUri: string; queueServiceUri: string };
  subscriptionIds: string[];
  /** Management groups whose accounts Resource Graph finds too. */
  managementGroupIds: string[];
  /** How accounts bound to a key are found: one Resource Graph query, or listing every subscription through ARM. */
  discovery: Discovery;
  /** Encryption scopes are listed by sweeps and indexed for events ('on'), or neither ('off': cheaper, and blind to scopes). */
  encryptionScopes: 'on' | 'off';
  armEndpoint: string;
  keyVaultHostSuffixes: string[];
  sweepSchedule: string;
  sweepMode: SweepMode;
  nearExpiryAction: NearExpiryAction;
  nearExpiryDays: number;
  allowedKeySizes: number[];
  optOutTag: string;
  /** A key version whose expiry is closer than this is not bound. */
  expiryMarginHours: number;
  /** App Service authentication is on (WEBSITE_AUTH_ENABLED, set by the platform), so its principal header can be trusted. */
  trustClientPrincipal: boolean;
}

/** Every setting the service reads; infra and local.settings.sample.json must carry each one. */
export const SETTINGS = [
  'AzureWebJobsStorage',
  'SUBSCRIPTION_IDS',
  'MANAGEMENT_GROUP_IDS',
  'DISCOVERY',
  'ENCRYPTION_SCOPES',
  'ARM_ENDPOINT',
  'KEY_VAULT_HOST_SUFFIXES',
  'SWEEP_SCHEDULE',
  'SWEEP_MODE',
  'NEAR_EXPIRY_ACTION',
  'NEAR_EXPIRY_DAYS',
  'ALLOWED_KEY_SIZES',
  'ALLOW_KEY_SIZES_UNSUPPORTED_BY_AZURE',
  'OPT_OUT_TAG',
  'KEY_EXPIRY_MARGIN_HOURS',
] as const;

export class ConfigError extends Error {
  readonly code = 'invalid-configuration';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Azure's rule for a storage account name. */
const STORAGE_ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;
const RSA_SIZES = new Set([2048, 3072, 4096]);
/** The only size the Azure OpenAI / AI services CMK docs support (RSA or RSA-HSM 2048). */
const SUPPORTED_KEY_SIZE = 2048;
/** Public-cloud Key Vault and Managed HSM hosts; sovereign clouds list their own (README). */
const DEFAULT_KEY_VAULT_HOST_SUFFIXES = '.vault.azure.net,.managedhsm.azure.net';
/** Hourly: Managed HSM publishes no Event Grid key events, so the sweep (enforce mode) is how its accounts follow new versions. */

type Env = Record<string, string | undefined>;

/** What reading an estate needs (discovery, ARM, Key Vault, the findings' rules): the CLI's audit reads only these. */
export type ReaderConfig = Pick<
  Config,
  | 'subscriptionIds' | 'managementGroupIds' | 'discovery' | 'encryptionScopes' | 'armEndpoint' | 'keyVaultHostSuffixes' | 'nearExpiryDays'
  | 'allowedKeySizes' | 'optOutTag' | 'expiryMarginHours'
>;

/** The reader settings alone, validated as the service validates them (no storage, schedule or mode). */
export function loadReaderConfig(env: Env = process.env): ReaderConfig {
  const settings = new Settings(env);
  const config = readerSettings(settings, env);
  settings.check();
  return config;
}

export function loadConfig(env: Env = process.env): Config {
  const settings = new Settings(env);
  const { problems } = settings;
  const reader = readerSettings(settings, env);
  // The service reads each key's vault (the preflight before every PATCH) in SUBSCRIPTION_IDS alone: with management
  // groups only, no vault is ever found and every rebind would be refused access-unverifiable.
  if (!reader.subscriptionIds.length && reader.managementGroupIds.length && !env.SUBSCRIPTION_IDS?.trim()) {
    problems.push('SUBSCRIPTION_IDS is required with MANAGEMENT_GROUP_IDS too: key vaults are read only in SUBSCRIPTION_IDS (name the subscriptions that hold the vaults)');
  }

  const connectionString = env.AzureWebJobsStorage?.trim();
  const accountName = env.AzureWebJobsStorage__accountName?.trim();
  // The endpoints are built from it: a host or URL pasted here would name another host.
  if (accountName && !STORAGE_ACCOUNT_NAME.test(accountName)) {
    problems.push(`AzureWebJobsStorage__accountName must be a storage account name, 3-24 lower-case letters and digits (got "${accountName.slice(0, 64)}")`);
  }
  const endpoint = (service: 'table' | 'queue'): string => {
    const name = `AzureWebJobsStorage__${service}ServiceUri`;
    const given = env[name]?.trim();
    if (given && !isHttpsOrigin(given)) problems.push(`${name} must be an https:// endpoint (got ${shown(given)})`);
    return given ? origin(given) : `https://${accountName ?? ''}.${service}.core.windows.net`;
  };
  const tableServiceUri = endpoint('table');
  const queueServiceUri = endpoint('queue');
  const hasEndpoints = !!(env.AzureWebJobsStorage__tableServiceUri?.trim() && env.AzureWebJobsStorage__queueServiceUri?.trim());
  if (!connectionString && !accountName && !hasEndpoints) {
    problems.push('AzureWebJobsStorage (connection string), AzureWebJobsStorage__accountName, or AzureWebJobsStorage__tableServiceUri and __queueServiceUri is required');
  }

  // Required: the timer binding reads %SWEEP_SCHEDULE%, and without the setting the host indexes no sweep at all.
  const sweepSchedule = settings.text('SWEEP_SCHEDULE');
  const schedule = parseSchedule(sweepSchedule);
  if (!schedule.ok) problems.push(`SWEEP_SCHEDULE ${schedule.problem} (got "${sweepSchedule}")`);

  const config: Config = {
    ...reader,
    storage: connectionString ? { connectionString } : { tableServiceUri, queueServiceUri },
    sweepSchedule,
    sweepMode: settings.oneOf('SWEEP_MODE', ['report', 'enforce'] as const, 'report'),
    nearExpiryAction: settings.oneOf('NEAR_EXPIRY_ACTION', ['rotate', 'bind-newer', 'notify'] as const, 'bind-newer'),
    trustClientPrincipal: env.WEBSITE_AUTH_ENABLED?.trim().toLowerCase() === 'true',
  };
  settings.check();
  return config;
}

/**
 * A URL setting as the clients get it: the origin the URL parser reads (lower case, without https's own :443), not
 * the text as written, which may differ ("https:host", "https://host/."); ARM's token scope is built from it.
 */
function origin(value: string): string {
  return parsed(value)?.origin ?? value.replace(/\/$/, '');
}

/** An https origin: no user name or password, path, query or fragment. */
function isHttpsOrigin(value: string): boolean {
  const url = parsed(value);
  return url?.protocol === 'https:' && originOnly(value, url);
}

/**
 * A URL setting as an error may show it: its scheme and host only, as the URL parser reads them, and a mark where
 * more was written (a user name, password, path, query or fragment may hold a secret: a SAS, an account key).
 */
function shown(value: string): string {
  const url = parsed(value);
  if (!url) return '(not a URL)';
  // A fully qualified name's root dot is DNS, but not a host Azure's endpoints are reached by (nor the origin checks').
  const rooted = /^(?:[a-z0-9-]+\.)+$/i.test(url.hostname);
  if (rooted) return `"${url.protocol}//${url.host}${bare(value, url) ? '' : '/…'}", a host ending in a dot`;
  return hostName(url) ? `"${url.protocol}//${url.host}${originOnly(value, url) ? '' : '/…'}"` : `"${url.protocol}//…"`;
}

function parsed(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/** A host of DNS labels or an IP literal: the URL parser also lets ';', '&' or '=' into a host (a pasted connection string). */
const hostName = (url: URL): boolean => /^(?:[a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/i.test(url.hostname);

/** Nothing written past the host and port. */
const bare = (value: string, url: URL): boolean =>
  !url.username && !url.password && url.pathname === '/' && !url.search && !url.hash && !/[?#@\s\\%]/.test(value);

const originOnly = (value: string, url: URL): boolean => hostName(url) && bare(value, url);

/** Reads settings, collecting every problem so that one error names them all. */
class Settings {
  readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  text(name: string, fallback?: string): string {
    const value = this.env[name]?.trim();
    if (value) return value;
    if (fallback === undefined) this.problems.push(`${name} is required`);
    return fallback ?? '';
  }

  list(name: string, fallback?: string): string[] {
    const items = this.text(name, fallback)
      .split(/[,;\s]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    // Given but naming nothing (",") is a mistake, not the empty list: SUBSCRIPTION_IDS="," would sweep no estate.
    const given = this.env[name]?.trim();
    if (given && !items.length) this.problems.push(`${name} lists nothing (got "${given}")`);
    return items;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T, ignoreCase = false): T {
    const given = this.text(name, fallback);
    const value = ignoreCase ? given.toLowerCase() : given;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problems.push(`${name} must be one of ${allowed.join(', ')} (got "${given}")`);
    return fallback;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.text(name, String(fallback));
    // Decimal digits only: Number() would also take "0x1e" or "1e1".
    const value = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (Number.isInteger(value) && value >= min && value <= max) return value;
    this.problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
    return fallback;
  }

  check(): void {
    if (this.problems.length) throw new ConfigError(this.problems);
  }
}

function readerSettings(settings: Settings, env: Env): ReaderConfig {
  const { problems } = settings;
  const managementGroupIds = settings.list('MANAGEMENT_GROUP_IDS', '');
  for (const id of managementGroupIds) {
    if (!/^[A-Za-z0-9._()-]{1,90}$/.test(id)) problems.push(`MANAGEMENT_GROUP_IDS has "${id}", which is not a management group id`);
  }
  // For the read-only audit, subscriptions are required unless management groups name the estate (its vault checks list
  // vaults per subscription, so it reports vault-unreadable without them); the service requires them (loadConfig).
  const subscriptionIds = managementGroupIds.length ? settings.list('SUBSCRIPTION_IDS', '') : settings.list('SUBSCRIPTION_IDS');
  for (const id of subscriptionIds) {
    if (!GUID.test(id)) problems.push(`SUBSCRIPTION_IDS has "${id}", which is not a subscription id (GUID)`);
  }
  const discovery = settings.oneOf('DISCOVERY', ['resource-graph', 'arm'] as const, 'resource-graph');
  if (discovery === 'arm' && managementGroupIds.length) problems.push('MANAGEMENT_GROUP_IDS needs DISCOVERY=resource-graph (ARM lists one subscription at a time)');
  if (discovery === 'arm' && !subscriptionIds.length) problems.push('SUBSCRIPTION_IDS is required with DISCOVERY=arm');

  const armEndpoint = settings.text('ARM_ENDPOINT', 'https://management.azure.com');
  if (!isHttpsOrigin(armEndpoint)) problems.push(`ARM_ENDPOINT must be an https:// origin (got ${shown(armEndpoint)})`);

  // A vault URL on https's own port 443 carries no port, so an entry naming :443 is the entry without one.
  const keyVaultHostSuffixes = settings.list('KEY_VAULT_HOST_SUFFIXES', DEFAULT_KEY_VAULT_HOST_SUFFIXES).map((s) => s.toLowerCase().replace(/:443$/, ''));
  for (const suffix of keyVaultHostSuffixes) {
    // A host name suffix of whole labels; a port (or * for any) only when named, for a vault off 443 (local stand-ins).
    const entry = /^\.?(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?::(?<port>\*|[1-9]\d{0,4}))?$/.exec(suffix);
    const port = entry?.groups?.['port'];
    if (!entry || (port !== undefined && port !== '*' && Number(port) > 65_535)) {
      problems.push(`KEY_VAULT_HOST_SUFFIXES has "${suffix}", which is not a host name suffix (optionally :port, 1-65535 or *)`);
    }
  }

  const sizes = settings.list('ALLOWED_KEY_SIZES', '2048');
  const allowedKeySizes = sizes.map((n) => (/^\d+$/.test(n) ? Number(n) : Number.NaN));
  if (!allowedKeySizes.length || allowedKeySizes.some((n) => !RSA_SIZES.has(n))) {
    problems.push(`ALLOWED_KEY_SIZES must list RSA sizes from 2048, 3072, 4096 (got "${env.ALLOWED_KEY_SIZES}")`);
  }
  const unsupportedAllowed = settings.oneOf('ALLOW_KEY_SIZES_UNSUPPORTED_BY_AZURE', ['true', 'false'] as const, 'false', true) === 'true';
  const unsupported = allowedKeySizes.filter((n) => RSA_SIZES.has(n) && n !== SUPPORTED_KEY_SIZE);
  if (unsupported.length && !unsupportedAllowed) {
    problems.push(`ALLOWED_KEY_SIZES lists ${unsupported.join(', ')}, which Azure does not document as supported (only RSA 2048); set ALLOW_KEY_SIZES_UNSUPPORTED_BY_AZURE=true to bind such versions anyway`);
  }

  return {
    subscriptionIds,
    managementGroupIds,
    discovery,
    encryptionScopes: settings.oneOf('ENCRYPTION_SCOPES', ['on', 'off'] as const, 'on'),
    armEndpoint: origin(armEndpoint),
    keyVaultHostSuffixes,
    nearExpiryDays: settings.integer('NEAR_EXPIRY_DAYS', 30, 1, 365),
    allowedKeySizes,
    optOutTag: settings.text('OPT_OUT_TAG', 'cmk-rotator:opt-out'),
    expiryMarginHours: settings.integer('KEY_EXPIRY_MARGIN_HOURS', 24, 0, 24 * 90),
  };
}
