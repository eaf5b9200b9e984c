import { setTimeout as sleep } from 'node:timers/promises';
import type { FindingRecord, Severity, SweepSummary } from '../shared/domain/findings';
import type { PlanLine } from '../shared/usecases/rotationPlan';
import { AppClient, type AppFlags } from './api';
import { accountName, CliError, EXIT, printJson, short, table, type ExitCode, type Format, type Io } from './io';
import { jobRows, printRows, waitForJobs, type JobRow, type WaitFlags } from './jobs';
import { printPlan, rotationRequest, type TargetFlags } from './plan';
import { failsOn, printReport } from './report';

// The commands that act through a deployed app's HTTP API (DESIGN §6): the app writes its ledger; the CLI only asks.

interface QueuedJobs {
  jobs: Array<{ jobId: string; accountId: string; encryptionScope?: string; kind: string; status: string }>;
}

async function queued(client: AppClient, body: unknown, flags: WaitFlags, format: Format, io: Io): Promise<ExitCode> {
  const { jobs } = await client.send<QueuedJobs>('POST', '/api/rotations', body);
  if (!flags.wait) {
    if (format === 'json') printJson(io, { jobs });
    else io.stdout.write(table([['job', 'account', 'scope', 'status'], ...jobs.map((j) => [j.jobId, accountName(j.accountId), j.encryptionScope ?? '-', j.status])], ''));
    return EXIT.ok;
  }
  io.stderr.write(`queued ${jobs.length} job${jobs.length === 1 ? '' : 's'}; waiting for ${jobs.length === 1 ? 'it' : 'them'} to finish\n`);
  return printRows(io, format, await waitForJobs(client, [...new Set(jobs.map((j) => j.jobId))], flags, io));
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
  const client = AppClient.from(flags, io);
  const rows = flags.wait ? await waitForJobs(client, [jobId], flags, io) : await jobRows(client, jobId);
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

/** Runs the app's sweep now; with --wait, prints the app's report once that sweep has ended. */
export async function sweep(flags: AppFlags & WaitFlags & { failOn?: Severity }, format: Format, io: Io): Promise<ExitCode> {
  const client = AppClient.from(flags, io);
  const { sweepId } = await client.send<{ sweepId: string }>('POST', '/api/compliance/sweeps');
  if (!flags.wait) {
    if (format === 'json') printJson(io, { sweepId, status: 'queued' });
    else io.stdout.write(`sweep ${sweepId} queued; see it with: cmk-rotator sweep --wait, or GET /api/compliance\n`);
    return EXIT.ok;
  }
  io.stderr.write(`sweep ${sweepId} queued; waiting for it to finish\n`);
  const intervalMs = Number(flags.interval ?? 2) * 1000;
  const deadline = Date.now() + Number(flags.timeout ?? 3600) * 1000;
  for (;;) {
    const report = await client.get<{ sweep: SweepSummary | null; findings: FindingRecord[] }>('/api/compliance');
    if (report.sweep?.sweepId === sweepId && report.sweep.status !== 'running') {
      const findings = report.findings.map((f) => ({ ...f, accountName: accountName(f.accountId) }));
      printReport(io, format, {
        title: `Compliance of the app's estate (sweep ${sweepId})`, status: report.sweep.status, accounts: report.sweep.accountsSeen, keys: report.sweep.keysRead,
        findings, errors: report.sweep.errors,
      });
      if (failsOn(findings, flags.failOn)) return EXIT.failed;
      return report.sweep.status === 'completed' ? EXIT.ok : EXIT.incomplete;
    }
    if (Date.now() >= deadline) throw new CliError(`sweep ${sweepId} had not finished when --timeout ran out`, EXIT.incomplete);
    await sleep(intervalMs);
  }
}
