import { runCli } from '../../cli/program';
import type { Output } from '../../cli/io';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A stream that keeps what is written; tty=true makes it look like a terminal. */
export function captured(tty = false): Output & { text: string } {
  const out = { text: '', isTTY: tty, columns: 120, write: (s: string) => ((out.text += s), true) };
  return out;
}

/** Runs the compiled CLI in this process with these environment variables, capturing its output and exit code. */
export function cliWith(env: Record<string, string | undefined>): (args: string[], options?: { tty?: boolean }) => Promise<CliResult> {
  return async (args, options = {}) => {
    const stdout = captured(options.tty);
    const stderr = captured(options.tty);
    const code = await runCli(args, { stdout, stderr, env });
    return { code, stdout: stdout.text, stderr: stderr.text };
  };
}
