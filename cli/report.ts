import { SEVERITIES, type Finding, type Severity } from '../shared/domain/findings';
import type { AuditReport, VersionInUse } from '../shared/usecases/audit';
import { printJson, short, table, type Format, type Io } from './io';

interface ReportFinding extends Finding {
  accountId: string;
  accountName: string;
}

/** What both reports (the audit's and a deployed app's latest sweep) say: findings, versions, counts, what was not read. */
interface Report {
  title: string;
  status: string;
  accounts: number;
  keys: number;
  findings: ReportFinding[];
  /** Absent when the source does not say (a deployed app's report lists findings only). */
  versions?: VersionInUse[];
  errors: string[];
}

export function auditReport(audit: AuditReport): Report {
  return {
    title: 'Compliance audit (read-only)',
    status: audit.summary.status,
    accounts: audit.summary.accountsSeen,
    keys: audit.summary.keysRead,
    findings: audit.findings,
    versions: audit.versions,
    errors: audit.summary.errors,
  };
}

function countBySeverity(findings: readonly Pick<Finding, 'severity'>[]): Record<Severity, number> {
  const counts: Record<Severity, number> = { critical: 0, warning: 0, info: 0 };
  for (const f of findings) counts[f.severity] += 1;
  return counts;
}

/** True when a finding at or above the threshold exists (critical > warning > info). */
export function failsOn(findings: readonly Pick<Finding, 'severity'>[], threshold: Severity | undefined): boolean {
  if (!threshold) return false;
  const limit = SEVERITIES.indexOf(threshold);
  return findings.some((f) => SEVERITIES.indexOf(f.severity) <= limit);
}

export function printReport(io: Io, format: Format, report: Report): void {
  const counts = countBySeverity(report.findings);
  const drift = report.findings.filter((f) => f.code === 'version-drift').length;
  const summary = {
    status: report.status, accounts: report.accounts, keys: report.keys,
    ...(report.versions ? { versionsInUse: report.versions.length } : {}), drift, ...counts, errors: report.errors,
  };
  if (format === 'json') {
    printJson(io, { summary, findings: report.findings, ...(report.versions ? { versions: report.versions } : {}) });
    return;
  }
  const w = (text: string): void => void io.stdout.write(text);
  w(`${report.title}: ${report.status}\n`);
  for (const severity of SEVERITIES) {
    const rows = report.findings.filter((f) => f.severity === severity);
    w(`\n${severity.toUpperCase()} (${rows.length})\n`);
    if (rows.length) {
      w(table([['account', 'scope', 'code', 'remedy'], ...rows.map((f) => [f.accountName, f.encryptionScope ?? '-', f.code, f.remedy])]));
    }
  }
  if (report.versions) {
    w('\nKey versions in use\n');
    const sorted = [...report.versions].sort((a, b) => a.keyName.localeCompare(b.keyName) || b.accounts - a.accounts);
    w(table([['vault', 'key', 'version', 'bindings'], ...sorted.map((v) => [v.vaultUri, v.keyName, v.keyVersion ? short(v.keyVersion) : '(versionless)', String(v.accounts)])]));
  }
  if (report.errors.length) {
    w('\nNot read (the report is partial):\n');
    for (const e of report.errors) w(`  - ${e}\n`);
  }
  const versions = report.versions ? `, ${report.versions.length} versions in use` : '';
  w(`\nSummary: ${report.accounts} accounts, ${report.keys} keys${versions}, ${drift} drifting; findings ${counts.critical} critical, ${counts.warning} warning, ${counts.info} info\n`);
}
