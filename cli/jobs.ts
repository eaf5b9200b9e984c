import { setTimeout as sleep } from 'node:timers/promises';
import { finalStatuses, type RotationStatus } from '../shared/domain/model';
import { ApiError, type AppClient } from './api';
import { accountName, CliError, EXIT, printJson, short, table, type ExitCode, type Format, type Io } from './io';

/** A job's row as GET /api/rotations/{jobId} shows it. */
export interface JobRow {
  jobId: string;
  accountId: string;
  encryptionScope?: string;
  status: RotationStatus;
  trigger?: string;
  fromVersion?: string;
  toVersion?: string;
  reason?: string;
  attempts?: number;
  finishedAt?: string;
}

export interface WaitFlags {
  wait?: boolean;
  /** Seconds between polls. */
  interval?: string;
  /** Seconds to wait at most. */
  timeout?: string;
}

export async function jobRows(client: AppClient, jobId: string): Promise<JobRow[]> {
  const body = await client.get<JobRow | { jobId: string; accounts: JobRow[] }>(`/api/rotations/${encodeURIComponent(jobId)}`);
  return 'accounts' in body ? body.accounts : [body];
}

function seconds(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`${flag}: "${value}" is not a number of seconds`);
  return n;
}

/** Polls the jobs until each row is final, with a line on stderr whenever a row moves (status or attempt). */
export async function waitForJobs(client: AppClient, jobIds: string[], flags: WaitFlags, io: Io): Promise<JobRow[]> {
  const intervalMs = seconds(flags.interval, 2, '--interval') * 1000;
  const deadline = Date.now() + seconds(flags.timeout, 900, '--timeout') * 1000;
  const seen = new Map<string, string>();
  for (;;) {
    let rows: JobRow[] = [];
    try {
      rows = (await Promise.all(jobIds.map((id) => jobRows(client, id)))).flat();
    } catch (error) {
      // The queued row is written right after the message: a job just accepted may not be readable yet.
      if (!(error instanceof ApiError && error.code === 'job-not-found')) throw error;
    }
    for (const row of rows) {
      const key = `${row.jobId}|${row.accountId}|${row.encryptionScope ?? ''}`;
      const state = `${row.status}|${row.attempts ?? 0}`;
      if (seen.get(key) === state) continue;
      seen.set(key, state);
      const attempt = row.attempts ? ` (attempt ${row.attempts})` : '';
      const detail = finalStatuses.has(row.status) && row.reason ? `: ${row.reason}` : '';
      io.stderr.write(`${new Date().toISOString().slice(11, 19)} ${label(row)}: ${row.status}${attempt}${detail}\n`);
    }
    if (rows.length && rows.every((r) => finalStatuses.has(r.status))) return rows;
    if (Date.now() >= deadline) {
      const open = rows.filter((r) => !finalStatuses.has(r.status)).map(label).join(', ') || jobIds.join(', ');
      throw new CliError(`still not finished when --timeout ran out: ${open}`, EXIT.incomplete);
    }
    await sleep(intervalMs);
  }
}

function label(row: JobRow): string {
  return `${accountName(row.accountId)}${row.encryptionScope ? `/${row.encryptionScope}` : ''}`;
}

/** Prints the rows; exit 1 when any failed or was refused. */
export function printRows(io: Io, format: Format, rows: JobRow[]): ExitCode {
  if (format === 'json') printJson(io, { jobs: rows });
  else {
    io.stdout.write(table([
      ['job', 'account', 'scope', 'status', 'from', 'to', 'attempts', 'reason'],
      ...rows.map((r) => [short(r.jobId), accountName(r.accountId), r.encryptionScope ?? '-', r.status, short(r.fromVersion), short(r.toVersion), String(r.attempts ?? ''), r.reason ?? '']),
    ], ''));
  }
  return rows.some((r) => r.status === 'failed' || r.status === 'refused') ? EXIT.failed : EXIT.ok;
}
