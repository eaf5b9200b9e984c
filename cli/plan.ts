import { buildReaders } from '../shared/app';
import { parseAccountId } from '../shared/domain/accounts';
import type { RotationRequest } from '../shared/domain/requests';
import { httpSchemas } from '../shared/http/schemas';
import { NO_PINS, readOnlyAccounts, readOnlyKeys } from '../shared/adapters/readOnly';
import { planRotation, type PlanLine } from '../shared/usecases/rotationPlan';
import { readerSetup, type EstateFlags } from './environment';
import { accountName, CliError, EXIT, printJson, short, table, type ExitCode, type Format, type Io } from './io';

export interface TargetFlags {
  key?: string;
  account?: string;
  scope?: string;
  keyVersion?: string;
  force?: boolean;
  reason?: string;
}

/** --key <vaultUri>/<keyName> (or a key id, .../keys/<name>) or --account <id>, as the API's rotation request. */
export function rotationRequest(flags: TargetFlags, extra: { rotateKey?: boolean; dryRun?: boolean } = {}): RotationRequest {
  if (!flags.key === !flags.account) throw new CliError('give --key <vaultUri>/<keyName> or --account <id>, exactly one');
  const body: Record<string, unknown> = {
    ...(flags.account ? { accountId: flags.account } : splitKey(flags.key ?? '')),
    ...(flags.scope ? { encryptionScope: flags.scope } : {}),
    ...(flags.keyVersion ? { keyVersion: flags.keyVersion } : {}),
    ...(flags.force ? { force: true } : {}),
    ...(flags.reason ? { reason: flags.reason } : {}),
    ...(extra.rotateKey ? { rotateKey: true } : {}),
    ...(extra.dryRun ? { dryRun: true } : {}),
  };
  const checked = httpSchemas().rotationRequest.safeParse(body);
  if (!checked.success) throw new CliError(checked.error.issues.map((i) => `${flagOf(String(i.path[0] ?? ''))}: ${i.message}`).join('; '));
  return checked.data;
}

function splitKey(key: string): { vaultUri: string; keyName: string } {
  let url: URL;
  try {
    url = new URL(key);
  } catch {
    throw new CliError(`--key: "${key}" is not <vaultUri>/<keyName> (e.g. https://kv-prod.vault.azure.net/cmk)`);
  }
  const parts = url.pathname.split('/').filter(Boolean);
  const keyName = parts[0] === 'keys' ? parts[1] : parts[0];
  // A key identifier with its version (the portal's "Key Identifier") names a version this flag would drop.
  if (parts[0] === 'keys' && parts.length === 3) throw new CliError(`--key: "${key}" names a version; give <vaultUri>/<keyName> and the version with --key-version`);
  if (!keyName || parts.length > (parts[0] === 'keys' ? 2 : 1)) throw new CliError(`--key: "${key}" is not <vaultUri>/<keyName> (e.g. https://kv-prod.vault.azure.net/cmk)`);
  return { vaultUri: `${url.origin}/`, keyName };
}

function flagOf(field: string): string {
  const flags: Record<string, string> = {
    accountId: '--account', encryptionScope: '--scope', vaultUri: '--key', keyName: '--key', keyVersion: '--key-version', reason: '--reason', rotateKey: '--rotate-key',
  };
  return flags[field] ?? field;
}

/** cmk-rotator plan: what a rotation would do now, by the worker's own planner (the API's dry run), reading only. */
export async function plan(flags: TargetFlags & EstateFlags, format: Format, io: Io): Promise<ExitCode> {
  const request = rotationRequest(flags);
  // An account names its own subscription, read with those the flags name (its vault's, when that is another one);
  // a key's bound accounts are found in the estate the flags name.
  const own = request.accountId ? parseAccountId(request.accountId)?.subscriptionId : undefined;
  const subscription = own ? [...new Set([own, ...(flags.subscription ?? [])].map((s) => s.toLowerCase()))] : flags.subscription;
  const { config, environment } = readerSetup({ ...flags, ...(subscription ? { subscription } : {}) }, io.env);
  const readers = buildReaders(config, environment);
  // The CLI user's login is not known by name here; the app's dry run names its caller.
  const result = await planRotation(request, 'the CLI user', {
    ...readers, accounts: readOnlyAccounts(readers.accounts), keys: readOnlyKeys(readers.keys), pins: NO_PINS, optOutTag: config.optOutTag,
  });
  if (!result.ok) throw new CliError(`${result.refusal.code}: ${result.refusal.detail}`);
  printPlan(io, format, result.value);
  return EXIT.ok;
}

export function printPlan(io: Io, format: Format, lines: PlanLine[]): void {
  if (format === 'json') return printJson(io, { plan: lines });
  io.stdout.write(table([
    ['account', 'scope', 'from', 'to', 'decision', 'reason'],
    ...lines.map((l) => [accountName(l.accountId), l.encryptionScope ?? '-', short(l.fromVersion), short(l.toVersion), l.decision, l.reason ?? '']),
  ], ''));
}
