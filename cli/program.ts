import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { DependencyError } from '../shared/errors';
import { history, pin, rotate, status, sweep, unpin } from './apiCommands';
import { audit, type AuditFlags } from './audit';
import { CLI_ENV } from './environment';
import { CliError, EXIT, type Format, type Io } from './io';
import { plan } from './plan';

const repeat = (value: string, previous: string[]): string[] => [...previous, value];
const version = (): string => (JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

function estate(command: Command): Command {
  return command
    .option('--subscription <id>', 'a subscription to read (repeatable)', repeat, [])
    .option('--management-group <id>', 'a management group to read through Resource Graph (repeatable)', repeat, [])
    .addOption(new Option('--discovery <how>', 'find accounts with Resource Graph or by listing each subscription through ARM').choices(['resource-graph', 'arm']))
    .option('--near-expiry-days <days>', 'a key expiring within this many days is near expiry (default 30)')
    .option('--allowed-key-sizes <sizes>', 'RSA sizes a key version may have, comma-separated (default 2048)')
    .option('--allow-key-sizes-unsupported-by-azure', 'let --allowed-key-sizes name sizes other than 2048, which Azure does not document');
}

function target(command: Command): Command {
  return command
    .option('--key <vaultUri/keyName>', 'every binding to this key, e.g. https://kv-prod.vault.azure.net/cmk')
    .option('--account <id>', 'one account, by its ARM resource id')
    .option('--scope <name>', "one of the account's encryption scopes (with --account)")
    .option('--key-version <version>', 'this version instead of the newest usable one')
    .option('--force', 'allow a version older than the bound one (pins the binding)');
}

function app(command: Command): Command {
  return command.option('--app <url>', `the deployed app's base URL (or ${CLI_ENV.app}); the key comes from ${CLI_ENV.functionKey}`);
}

function waiting(command: Command, what: string): Command {
  return command
    .option('--wait', `wait until ${what} ended, showing progress on stderr`)
    .option('--interval <seconds>', 'seconds between polls while waiting (default 2)')
    .option('--timeout <seconds>', 'give up waiting after this many seconds (exit 3)');
}

const failOn = (): Option => new Option('--fail-on <severity>', 'exit 1 when a finding at or above this severity exists').choices(['critical', 'warning']);

/** Builds the program; each action stores its exit code in `result`. */
function program(io: Io, result: { code: number }): Command {
  const root = new Command('cmk-rotator')
    .description('Audit the customer-managed keys of Azure OpenAI / AI services accounts, and operate a deployed cmk-rotator')
    .version(version())
    .addOption(new Option('-o, --output <format>', 'table (default) or json').choices(['table', 'json']).default('table'))
    .exitOverride()
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', `
Exit codes: 0 ok; 1 a finding at or above --fail-on, or a job failed or was refused; 2 bad usage or a refused request;
3 incomplete (something could not be read, the app could not be reached, or waiting timed out).

Against real Azure the read-only commands (audit, plan) use your own login (az login, DefaultAzureCredential).`);
  // Commander passes the command last; its options, arguments and the global --output are read from it.
  const run = (action: (format: Format, command: Command) => Promise<number>) => async (...args: unknown[]): Promise<void> => {
    const command = args[args.length - 1] as Command;
    result.code = await action(command.optsWithGlobals<{ output: Format }>().output, command);
  };

  estate(root.command('audit'))
    .description('the compliance sweep, read-only: discovery, key and vault reads, findings by severity with remedies, and a summary')
    .addOption(failOn())
    .addHelpText('after', `
Needs read on the accounts and vaults (Reader, or the discovery role the template deploys) and keys get/list on each
vault (Key Vault Crypto User or an access policy with get, list). Writes nothing anywhere.

Example: cmk-rotator audit --subscription 00000000-0000-0000-0000-000000000000 --fail-on critical`)
    .action(run((format, c) => audit(c.opts<AuditFlags>(), format, io)));

  estate(target(root.command('plan')))
    .description("what a rotation would do now, read-only: the worker's own planner, as the API's dry run")
    .addHelpText('after', "\nPins live in the deployed app's storage, which plan does not read; `rotate --dry-run --app <url>` asks the app.")
    .action(run((format, c) => plan(c.opts(), format, io)));

  waiting(app(target(root.command('rotate'))), 'every job has')
    .description('queue a rotation through the app: each bound account (or the one named) moves to the newest usable version, or --key-version')
    .option('--rotate-key', 'create a new key version first and bind it')
    .option('--reason <text>', 'why (kept with the pin that --force sets)')
    .option('--dry-run', "show the app's plan instead; nothing is queued")
    .action(run((format, c) => rotate(c.opts(), format, io)));

  waiting(app(root.command('status').argument('<jobId>', 'the job id rotate printed')), 'the job has')
    .description("a job's rows: one per account it touched")
    .action(run((format, c) => status(c.args[0] ?? '', c.opts(), format, io)));

  app(root.command('history').argument('<accountId>', "the account's ARM resource id"))
    .description("an account's ledger rows, newest first")
    .option('--limit <n>', 'rows to show (1-100, default 20)')
    .action(run((format, c) => history(c.args[0] ?? '', c.opts(), format, io)));

  waiting(app(root.command('pin')), 'the job has')
    .description('pin a binding to a version (a forced rebind): events and sweeps leave it there until unpin')
    .requiredOption('--account <id>', "the account's ARM resource id")
    .requiredOption('--key-version <version>', 'the version to pin to')
    .option('--scope <name>', "one of the account's encryption scopes")
    .option('--reason <text>', 'why, kept with the pin (e.g. "v7 breaks fine-tuning")')
    .action(run((format, c) => pin(c.opts(), format, io)));

  app(root.command('unpin'))
    .description('release a pin: events and sweeps move the binding again')
    .requiredOption('--account <id>', "the account's ARM resource id")
    .option('--scope <name>', "one of the account's encryption scopes")
    .action(run((format, c) => unpin(c.opts(), format, io)));

  waiting(app(root.command('sweep')), 'the sweep has')
    .description("run the app's compliance sweep now; with --wait, print its report")
    .addOption(failOn())
    .action(run((format, c) => sweep(c.opts(), format, io)));
  return root;
}

/** Runs the CLI on argv (without node and the script) and resolves to its exit code. */
export async function runCli(argv: string[], io: Io): Promise<number> {
  const result = { code: EXIT.ok as number };
  try {
    await program(io, result).parseAsync(argv, { from: 'user' });
    return result.code;
  } catch (error) {
    // --help and --version end with exit code 0; a usage error was already explained by commander.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof CliError) {
      io.stderr.write(`cmk-rotator: ${error.message}\n`);
      return error.exitCode;
    }
    io.stderr.write(`cmk-rotator: ${describe(error)}\n`);
    return EXIT.incomplete;
  }
}

function describe(error: unknown): string {
  const e = error as Error;
  if (e?.name === 'CredentialUnavailableError' || e?.name === 'AuthenticationRequiredError') return `no Azure login: sign in with az login (${e.message.split('\n')[0]})`;
  if (error instanceof DependencyError) return `${error.code}: ${error.message}`;
  return e?.message ?? String(error);
}
