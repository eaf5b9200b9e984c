import { finalStatuses, OUTCOME_UNKNOWN, type RotationStatus } from '../shared/domain/model';
import { httpSchemas } from '../shared/http/schemas';
import { ApiError, type AppClient } from './api';
import { accountName, CliError, EXIT, printJson, short, table, type ExitCode, type Format, type Io } from './io';
import { pollUntil, type WaitPlan } from './wait';

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

/** A job id as the API takes it, checked here: "..", or a typo, would otherwise be a path of its own. */
export function jobIdArgument(jobId: string): string {
  if (!httpSchemas().jobIdParam.safeParse({ jobId }).success) throw new CliError(`<jobId>: "${jobId.slice(0, 80)}" is not a job id (8-64 letters, digits, dashes; rotate prints them)`);
  return jobId;
}

export async function jobRows(client: AppClient, jobId: string, timeoutMs?: number): Promise<JobRow[]> {
  const body = await client.get<JobRow | { jobId: string; accounts: JobRow[] }>(`/api/rotations/${encodeURIComponent(jobId)}`, timeoutMs);
  return 'accounts' in body ? body.accounts : [body];
}

/** The queued row is written right after the message: a job just accepted may not be readable for a moment. */
const UNREAD_GRACE_MS = 30_000;

/** Final, or still `running` after the job's last attempt with its outcome unknown (nothing more will move it). */
const settled = (row: JobRow): boolean => finalStatuses.has(row.status) || !!row.reason?.startsWith(OUTCOME_UNKNOWN);

/**
 * Polls the jobs until each row has settled, with a line on stderr whenever a row moves (status or attempt). A
 * job not found is an error, except for jobs the app has just `queued`, for a moment.
 */
export async function waitForJobs(client: AppClient, jobIds: string[], plan: WaitPlan, io: Io, queued = false): Promise<JobRow[]> {
  const graceUntil = queued ? Date.now() + UNREAD_GRACE_MS : 0;
  const seen = new Map<string, string>();
  let rows: JobRow[] = [];
  return pollUntil(plan, io, async (timeLeftMs) => {
    try {
      rows = (await Promise.all(jobIds.map((id) => jobRows(client, id, timeLeftMs)))).flat();
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'job-not-found' && Date.now() < graceUntil)) throw error;
      rows = [];
    }
    for (const row of rows) {
      const key = `${row.jobId}|${row.accountId}|${row.encryptionScope ?? ''}`;
      const state = `${row.status}|${row.attempts ?? 0}|${settled(row)}`;
      if (seen.get(key) === state) continue;
      seen.set(key, state);
      const attempt = row.attempts ? ` (attempt ${row.attempts})` : '';
      const detail = settled(row) && row.reason ? `: ${row.reason}` : '';
      io.stderr.write(`${new Date().toISOString().slice(11, 19)} ${label(row)}: ${row.status}${attempt}${detail}\n`);
    }
    return rows.length && rows.every(settled) ? rows : undefined;
  }, () => `still not finished when --timeout ran out: ${rows.filter((r) => !settled(r)).map(label).join(', ') || jobIds.join(', ')}`);
}

function label(row: JobRow): string {
  return `${accountName(row.accountId)}${row.encryptionScope ? `/${row.encryptionScope}` : ''}`;
}

/** Prints the rows; exit 1 when any failed or was refused, else 3 when any outcome is unknown. */
export function printRows(io: Io, format: Format, rows: JobRow[]): ExitCode {
  if (format === 'json') printJson(io, { jobs: rows });
  else {
    io.stdout.write(table([
      ['job', 'account', 'scope', 'status', 'from', 'to', 'attempts', 'reason'],
      ...rows.map((r) => [short(r.jobId), accountName(r.accountId), r.encryptionScope ?? '-', r.status, short(r.fromVersion), short(r.toVersion), String(r.attempts ?? ''), r.reason ?? '']),
    ], ''));
  }
  if (rows.some((r) => r.status === 'failed' || r.status === 'refused')) return EXIT.failed;
  return rows.some((r) => settled(r) && !finalStatuses.has(r.status)) ? EXIT.incomplete : EXIT.ok;
}
