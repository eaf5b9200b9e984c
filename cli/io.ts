// What a command writes to and reads from, so the tests run the CLI in-process; and the exit codes a pipeline reads.

export interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Io {
  stdout: Output;
  stderr: Output;
  env: Record<string, string | undefined>;
  /** HTTP for the API commands (the global fetch unless a test gives another). */
  fetch?: typeof fetch;
}

/** 0 ok; 1 a check failed (a finding at or above --fail-on, a job failed or refused); 2 bad usage or a refused request; 3 incomplete. */
export const EXIT = { ok: 0, failed: 1, usage: 2, incomplete: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the CLI explains in one line on stderr, with its exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: ExitCode = EXIT.usage) {
    super(message);
    this.name = 'CliError';
  }
}

export type Format = 'table' | 'json';

export function printJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(rows: string[][], indent = '  '): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => `${indent}${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}`.trimEnd()).join('\n') + '\n';
}

/** An account's name from its ARM id. */
export function accountName(id: string): string {
  return id.split('/').pop() ?? id;
}

export const short = (v: string | undefined): string => (v ? v.slice(0, 8) : '-');
