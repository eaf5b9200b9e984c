import { readFileSync } from 'node:fs';
import type { AccessToken, TokenCredential } from '../shared/adapters/credential';
import type { Environment } from '../shared/app';
import { ConfigError, loadReaderConfig, type ReaderConfig } from '../shared/config';
import { CliError } from './io';

/** The environment variables the CLI reads; `npm run dev` prints the set that points it at the local stack. */
export const CLI_ENV = {
  /** Resource Manager origin (sovereign clouds, or the local ARM stand-in); default https://management.azure.com. */
  armEndpoint: 'CMK_ROTATOR_ARM_ENDPOINT',
  /** A PEM file of a CA to trust for ARM and Key Vault (the local stand-ins' self-signed certificate). */
  caFile: 'CMK_ROTATOR_CA_FILE',
  /** Vault host suffixes the CLI may call; default the public cloud's vaults and Managed HSMs. */
  keyVaultHostSuffixes: 'CMK_ROTATOR_KEY_VAULT_HOST_SUFFIXES',
  /** "1": a placeholder token instead of DefaultAzureCredential, honoured only with a loopback ARM endpoint (the stand-ins accept any token). */
  localCredential: 'CMK_ROTATOR_LOCAL_CREDENTIAL',
  /** The deployed app's base URL for the API commands (or --app). */
  app: 'CMK_ROTATOR_APP',
  /** The app's function key for the API commands. */
  functionKey: 'CMK_ROTATOR_FUNCTION_KEY',
} as const;

const PUBLIC_VAULTS = '.vault.azure.net,.managedhsm.azure.net';

/** Which estate to read and how: what the flags name, with the service's own rules for the rest. */
export interface EstateFlags {
  subscription?: string[];
  managementGroup?: string[];
  discovery?: string;
  nearExpiryDays?: string;
  allowedKeySizes?: string;
  allowKeySizesUnsupportedByAzure?: boolean;
}

/** The reader settings and the clients' environment, validated; a bad value is a usage error naming its flag or variable. */
export function readerSetup(flags: EstateFlags, env: Record<string, string | undefined>): { config: ReaderConfig; environment: Environment } {
  const settings: Record<string, string | undefined> = {
    SUBSCRIPTION_IDS: flags.subscription?.join(','),
    MANAGEMENT_GROUP_IDS: flags.managementGroup?.join(','),
    DISCOVERY: flags.discovery,
    ARM_ENDPOINT: env[CLI_ENV.armEndpoint],
    KEY_VAULT_HOST_SUFFIXES: env[CLI_ENV.keyVaultHostSuffixes] ?? PUBLIC_VAULTS,
    NEAR_EXPIRY_DAYS: flags.nearExpiryDays,
    ALLOWED_KEY_SIZES: flags.allowedKeySizes,
    ALLOW_KEY_SIZES_UNSUPPORTED_BY_AZURE: flags.allowKeySizesUnsupportedByAzure ? 'true' : undefined,
  };
  let config: ReaderConfig;
  try {
    config = loadReaderConfig(settings);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.problems.map(inCliWords).join('; '));
    throw error;
  }
  return { config, environment: clientEnvironment(config.armEndpoint, env) };
}

function clientEnvironment(armEndpoint: string, env: Record<string, string | undefined>): Environment {
  const environment: Environment = {};
  const caFile = env[CLI_ENV.caFile]?.trim();
  if (caFile) {
    try {
      environment.trustedCa = readFileSync(caFile, 'utf8');
    } catch (error) {
      throw new CliError(`${CLI_ENV.caFile}: cannot read ${caFile} (${(error as Error).message})`);
    }
  }
  if (env[CLI_ENV.localCredential]?.trim() === '1') {
    if (!isLoopback(armEndpoint)) throw new CliError(`${CLI_ENV.localCredential} is honoured only with a loopback ${CLI_ENV.armEndpoint} (got ${armEndpoint})`);
    environment.credential = placeholderCredential;
    // The local vaults are not on a vault.azure.net host, so their challenge names another resource.
    environment.relaxVaultChallenge = true;
  }
  return environment;
}

/** For the local stand-ins only: they check that a bearer token is there, not what it says. */
const placeholderCredential: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    return { token: 'cmk-rotator-local', expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
  } catch {
    return false;
  }
}

/** The service's setting names as the CLI's flags and variables. */
function inCliWords(problem: string): string {
  return problem
    .replace(/^SUBSCRIPTION_IDS is required$/, 'name the estate: --subscription <id> (repeatable) or --management-group <id>')
    .replace(/^SUBSCRIPTION_IDS is required with DISCOVERY=arm$/, '--discovery arm lists subscriptions: name them with --subscription <id> (repeatable)')
    .replace(/SUBSCRIPTION_IDS/g, '--subscription')
    .replace(/MANAGEMENT_GROUP_IDS/g, '--management-group')
    .replace(/DISCOVERY=arm/g, '--discovery arm')
    .replace(/DISCOVERY/g, '--discovery')
    .replace(/ARM_ENDPOINT/g, CLI_ENV.armEndpoint)
    .replace(/KEY_VAULT_HOST_SUFFIXES/g, CLI_ENV.keyVaultHostSuffixes)
    .replace(/NEAR_EXPIRY_DAYS/g, '--near-expiry-days')
    .replace(/ALLOWED_KEY_SIZES/g, '--allowed-key-sizes')
    .replace(/set ALLOW_KEY_SIZES_UNSUPPORTED_BY_AZURE=true/g, 'add --allow-key-sizes-unsupported-by-azure');
}

