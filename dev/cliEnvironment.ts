import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI_ENV } from '../cli/environment';
import type { LocalStack } from './stack';

/** The variables that point the CLI at a local stack: what `npm run dev` prints and the CLI tests set. */
export function cliEnvironment(stack: Pick<LocalStack, 'arm' | 'host'>, caFile: string): Record<string, string> {
  return {
    [CLI_ENV.armEndpoint]: stack.arm.url.replace(/\/$/, ''),
    [CLI_ENV.caFile]: caFile,
    // The stand-in vaults listen on loopback ports chosen at start-up.
    [CLI_ENV.keyVaultHostSuffixes]: '127.0.0.1:*',
    [CLI_ENV.localCredential]: '1',
    [CLI_ENV.app]: stack.host.url,
    [CLI_ENV.functionKey]: stack.host.functionKey,
  };
}

/** Writes the stand-ins' CA to a fresh temporary file; `remove` deletes it again. */
export function writeCaFile(stack: Pick<LocalStack, 'arm'>): { file: string; remove(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cmk-rotator-ca-'));
  const file = path.join(dir, 'local-ca.pem');
  writeFileSync(file, stack.arm.ca);
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
