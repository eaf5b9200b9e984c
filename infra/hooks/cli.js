// @ts-check
// What the azd hooks share: running az and azd without a shell on posix (arguments pass through untouched) and through
// cmd on Windows (az and azd are .cmd/.exe there), env values as azd passes them, and failing with one clear line.
'use strict';

const { spawnSync } = require('node:child_process');

/**
 * @typedef {{ status: number, stdout: string, stderr: string }} Result
 * @typedef {(command: string, args: string[], options?: { inherit?: boolean }) => Result} Runner
 */

/** cmd.exe splits on spaces and treats these specially; every argument here is plain text without quotes. */
function quoteForCmd(arg) {
  return /^[\w./:=@-]+$/.test(arg) ? arg : `"${arg}"`;
}

/** @type {Runner} */
function run(command, args, options = {}) {
  const windows = process.platform === 'win32';
  // inherit: a long command (azd provision) shows its progress as it runs instead of after it ends.
  const stdio = options.inherit ? 'inherit' : 'pipe';
  const child = spawnSync(command, windows ? args.map(quoteForCmd) : args, { encoding: 'utf8', shell: windows, stdio });
  if (child.error) return { status: 127, stdout: '', stderr: `${command}: ${child.error.message}` };
  return { status: child.status ?? 1, stdout: child.stdout ?? '', stderr: child.stderr ?? '' };
}

/** An env value azd set, trimmed; empty when unset. */
function envValue(name, env = process.env) {
  return (env[name] ?? '').trim();
}

/** Thrown for a condition the person must fix; main() prints its message alone, without a stack. */
class HookError extends Error {}

/** Sets an azd environment value, or throws naming it. */
function azdEnvSet(runner, name, value) {
  const result = runner('azd', ['env', 'set', name, value]);
  if (result.status !== 0) throw new HookError(`azd env set ${name} failed (exit ${result.status}): ${result.stderr.trim()}`);
}

/** "/subscriptions/<id>/resourceGroups/<rg>/providers/<namespace>/<type>/<name>" split into its parts, or undefined. */
function parseResourceId(id, type) {
  const match = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+\/[^/]+)\/([^/]+)$/i.exec(id);
  if (!match || match[3]?.toLowerCase() !== type.toLowerCase()) return undefined;
  return { subscriptionId: match[1] ?? '', resourceGroup: match[2] ?? '', name: match[4] ?? '' };
}

/** Runs a hook's main: exit 0 on success, 1 with "cmk-rotator: <message>" on stderr otherwise. */
function runMain(main) {
  Promise.resolve()
    .then(main)
    .then(
      () => process.exit(0),
      (error) => {
        process.stderr.write(`cmk-rotator: ${error instanceof HookError ? error.message : error?.stack ?? String(error)}\n`);
        process.exit(1);
      },
    );
}

module.exports = { run, envValue, azdEnvSet, parseResourceId, HookError, runMain };
