import type { FindingRecord, Severity, SweepSummary } from '../shared/domain/findings';
import type { PlanLine } from '../shared/usecases/rotationPlan';
import { AppClient, type AppFlags } from './api';
import { accountName, CliError, EXIT, printJson, short, table, type ExitCode, type Format, type Io } from './io';
import { jobIdArgument, jobRows, printRows, waitForJobs, type JobRow } from './jobs';
import { printPlan, rotationRequest, type TargetFlags } from './plan';
import { failsOn, printReport } from './report';
import { pollUntil, WaitExpired, waitPlan, type WaitFlags, type WaitPlan } from './wait';

// The commands that act through a deployed app's HTTP API (DESIGN §6): the app writes its ledger; the CLI only asks.

interface QueuedJobs {
  jobs: Array<{ jobId: string; accountId: string; encryptionScope?: string; kind: string; status: string }>;
}

/** A job's rows are waited for 15 minutes unless --timeout says otherwise. */
const JOB_WAIT_SECONDS = 900;

async function queued(client: AppClient, body: unknown, flags: WaitFlags, format: Format, io: Io): Promise<ExitCode> {
  // Before the request: a bad --interval or --timeout queues nothing.
  const plan = flags.wait ? waitPlan(flags, JOB_WAIT_SECONDS) : undefined;
  const { jobs } = await client.send<QueuedJobs>('POST', '/api/rotations', body);
  if (!plan) {
    if (format === 'json') printJson(io, { jobs });
    else io.stdout.write(table([['job', 'account', 'scope', 'status'], ...jobs.map((j) => [j.jobId, accountName(j.accountId), j.encryptionScope ?? '-', j.status])], ''));
    return EXIT.ok;
  }
  io.stderr.write(`queued ${jobs.length} job${jobs.length === 1 ? '' : 's'}; waiting for ${jobs.length === 1 ? 'it' : 'them'} to finish\n`);
  return printRows(io, format, await waitForJobs(client, [...new Set(jobs.map((j) => j.jobId))], plan, io, true));
}

export async function rotate(flags: TargetFlags & AppFlags & WaitFlags & { rotateKey?: boolean; dryRun?: boolean }, format: Format, io: Io): Promise<ExitCode> {
  const body = rotationRequest(flags, { rotateKey: flags.rotateKey, dryRun: flags.dryRun });
  const client = AppClient.from(flags, io);
  if (flags.dryRun) {
    const { plan } = await client.send<{ plan: PlanLine[] }>('POST', '/api/rotations', body);
    printPlan(io, format, plan);
    return EXIT.ok;
  }
  return queued(client, body, flags, format, io);
}

/** A person's forced rebind to a version pins the binding there (§2a): events and sweeps leave it until unpinned. */
export async function pin(flags: { account: string; keyVersion: string; scope?: string; reason?: string } & AppFlags & WaitFlags, format: Format, io: Io): Promise<ExitCode> {
  const body = rotationRequest({ account: flags.account, keyVersion: flags.keyVersion, force: true, reason: flags.reason ?? 'pinned with cmk-rotator pin', ...(flags.scope ? { scope: flags.scope } : {}) });
  return queued(AppClient.from(flags, io), body, flags, format, io);
}

export async function unpin(flags: { account: string; scope?: string } & AppFlags, format: Format, io: Io): Promise<ExitCode> {
  const client = AppClient.from(flags, io);
  const { released } = await client.send<{ released: { accountId: string; encryptionScope?: string; keyVersion: string; actor: string; reason: string } }>(
    'DELETE', '/api/accounts/pin', { accountId: flags.account, ...(flags.scope ? { encryptionScope: flags.scope } : {}) },
  );
  if (format === 'json') printJson(io, { released });
  else io.stdout.write(`released the pin of ${accountName(released.accountId)}${released.encryptionScope ? `/${released.encryptionScope}` : ''} to ${released.keyVersion} (set by ${released.actor}: ${released.reason})\n`);
  return EXIT.ok;
}

export async function status(jobId: string, flags: AppFlags & WaitFlags, format: Format, io: Io): Promise<ExitCode> {
  jobIdArgument(jobId);
  const plan = flags.wait ? waitPlan(flags, JOB_WAIT_SECONDS) : undefined;
  const client = AppClient.from(flags, io);
  const rows = plan ? await waitForJobs(client, [jobId], plan, io) : await jobRows(client, jobId);
  return printRows(io, format, rows);
}

export async function history(accountId: string, flags: AppFlags & { limit?: string }, format: Format, io: Io): Promise<ExitCode> {
  const client = AppClient.from(flags, io);
  const query = new URLSearchParams({ accountId, ...(flags.limit ? { limit: flags.limit } : {}) });
  const { rotations } = await client.get<{ rotations: Array<JobRow & { queuedAt: string }> }>(`/api/rotations?${query}`);
  if (format === 'json') printJson(io, { rotations });
  else {
    io.stdout.write(table([
      ['queued', 'job', 'trigger', 'scope', 'status', 'from', 'to', 'reason'],
      ...rotations.map((r) => [r.queuedAt, short(r.jobId), r.trigger ?? '', r.encryptionScope ?? '-', r.status, short(r.fromVersion), short(r.toVersion), r.reason ?? '']),
    ], ''));
  }
  return EXIT.ok;
}

type Compliance = { sweep: SweepSummary | null; findings: FindingRecord[] };

/** A failed sweep's message is delivered again after the queue's visibility timeout (host.json: 30 s), under its id. */
const SWEEP_RETRY_GRACE_MS = 60_000;

/** Runs the app's sweep now; with --wait, prints the app's report once that sweep has ended. */
export async function sweep(flags: AppFlags & WaitFlags & { failOn?: Severity }, format: Format, io: Io): Promise<ExitCode> {
  const plan = flags.wait ? waitPlan(flags, 3600) : undefined;
  const client = AppClient.from(flags, io);
  const deadline = Date.now() + (plan?.timeoutMs ?? 0);
  // The API serves the latest sweep only: the one before ours, read first, tells a later sweep from it.
  const before = plan ? await pollUntil(plan, io, async (timeLeftMs) => ({ id: (await client.get<Compliance>('/api/compliance', timeLeftMs)).sweep?.sweepId }), () => 'GET /api/compliance had not answered when --timeout ran out') : undefined;
  const { sweepId } = await client.send<{ sweepId: string }>('POST', '/api/compliance/sweeps', undefined, plan ? Math.max(1, deadline - Date.now()) : undefined);
  if (!plan) {
    if (format === 'json') printJson(io, { sweepId, status: 'queued' });
    else io.stdout.write(`sweep ${sweepId} queued; its report, once it has ended: GET /api/compliance\n`);
    return EXIT.ok;
  }
  io.stderr.write(`sweep ${sweepId} queued; waiting for it to finish\n`);
  // One --timeout for the whole wait, the first read included.
  const { sweep: ended, findings: found } = await sweepEnd(client, sweepId, before?.id, { ...plan, timeoutMs: Math.max(1, deadline - Date.now()) }, io);
  const findings = found.map((f) => ({ ...f, accountName: accountName(f.accountId) }));
  printReport(io, format, {
    title: `Compliance of the app's estate (sweep ${sweepId})`, status: ended.status, accounts: ended.accountsSeen, keys: ended.keysRead, findings, errors: ended.errors,
  });
  if (failsOn(findings, flags.failOn)) return EXIT.failed;
  return ended.status === 'completed' ? EXIT.ok : EXIT.incomplete;
}

type Ended = { sweep: SweepSummary; findings: FindingRecord[] };

/**
 * Polls the latest sweep until ours has ended: completed or partial at once; failed once the host has had its
 * chance to deliver it again (a retry runs under the same id and starts anew), or when --timeout ends the wait
 * first (the failed run's report is what there is).
 */
async function sweepEnd(client: AppClient, sweepId: string, before: string | undefined, plan: WaitPlan, io: Io): Promise<Ended> {
  let failed: { seenAt: number; report: Ended } | undefined;
  try {
    return await pollUntil(plan, io, async (timeLeftMs) => {
      const report = await client.get<Compliance>('/api/compliance', timeLeftMs);
      const latest = report.sweep?.sweepId;
      if (latest && latest !== sweepId && latest !== before) {
        throw new CliError(`sweep ${sweepId} was followed by sweep ${latest} before its end was seen; GET /api/compliance has the newer one's report`, EXIT.incomplete);
      }
      if (!report.sweep || latest !== sweepId) return undefined;
      const ended = { sweep: report.sweep, findings: report.findings };
      if (report.sweep.status === 'running') failed = undefined;
      else if (report.sweep.status !== 'failed') return ended;
      else {
        if (failed?.report.sweep.startedAt !== report.sweep.startedAt) {
          io.stderr.write(`sweep ${sweepId} failed (${report.sweep.errors[0] ?? 'no reason given'}); waiting up to ${SWEEP_RETRY_GRACE_MS / 1000} s for the host to run it again\n`);
          failed = { seenAt: Date.now(), report: ended };
        }
        if (Date.now() - failed.seenAt >= SWEEP_RETRY_GRACE_MS) return ended;
      }
      return undefined;
    }, () => `sweep ${sweepId} had not finished when --timeout ran out`);
  } catch (error) {
    // Only --timeout running out: another sweep taking the latest row, or the app refusing us, is said as it is.
    if (failed && error instanceof WaitExpired) return failed.report;
    throw error;
  }
}
