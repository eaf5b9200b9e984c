#!/usr/bin/env node
// The cmk-rotator command (package.json bin): `npx cmk-rotator --help`.
import { runCli } from './program';

// A reader that stops early (`cmk-rotator audit | head`) is not an error of the command.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

void runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then((code) => {
  process.exitCode = code;
});
