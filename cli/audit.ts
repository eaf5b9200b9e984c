import { auditStores, readOnlyAccounts, readOnlyKeys } from '../shared/adapters/readOnly';
import { buildReaders } from '../shared/app';
import type { Severity } from '../shared/domain/findings';
import { runAudit } from '../shared/usecases/audit';
import { readerSetup, type EstateFlags } from './environment';
import { EXIT, type ExitCode, type Format, type Io } from './io';
import { AuditProgress } from './progress';
import { auditReport, failsOn, printReport } from './report';

export interface AuditFlags extends EstateFlags {
  failOn?: Severity;
}

/**
 * cmk-rotator audit: the compliance sweep against real Azure with the caller's own login, read-only. Exit 1 when a
 * finding at or above --fail-on exists, 3 when something could not be read (the report is partial), else 0.
 */
export async function audit(flags: AuditFlags, format: Format, io: Io): Promise<ExitCode> {
  const { config, environment } = readerSetup(flags, io.env);
  const readers = buildReaders(config, environment);
  const progress = new AuditProgress(io.stderr);
  const result = await runAudit({
    ...readers,
    accounts: readOnlyAccounts(readers.accounts),
    keys: readOnlyKeys(readers.keys, () => progress.keyRead()),
    stores: auditStores(),
    nearExpiryDays: config.nearExpiryDays,
    optOutTag: config.optOutTag,
  }, progress);
  progress.finish();
  const report = auditReport(result);
  printReport(io, format, report);
  if (failsOn(report.findings, flags.failOn)) return EXIT.failed;
  return result.summary.status === 'completed' ? EXIT.ok : EXIT.incomplete;
}
