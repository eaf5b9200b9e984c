import { FINDING_RULES, SEVERITIES } from '../shared/domain/findings';
import { seedComplianceEstate } from './complianceEstate';
import { out, table } from './print';
import { startLocalStack } from './stack';

/** npm run demo -- --scenario compliance: one sweep over a mixed estate, the report grouped by severity. */
export async function complianceDemo(started: number): Promise<number> {
  out('cmk-rotator compliance demo: a sweep over a mixed estate (SWEEP_MODE=report)');
  const stack = await startLocalStack({ settings: { SWEEP_MODE: 'report' } });
  try {
    const estate = await seedComplianceEstate(stack, 'demo');
    out(`   ${Object.keys(estate.accounts).length} accounts: ${Object.keys(estate.accounts).join(', ')}`);
    await stack.host.runTimer('complianceSweep');
    const sweep = await stack.services.sweeps.latest();
    const findings = await stack.services.findings.list();
    const label = new Map(Object.entries(estate.accounts).map(([l, id]) => [id, l]));

    for (const severity of SEVERITIES) {
      const rows = findings.filter((f) => f.severity === severity);
      out(`\n${severity.toUpperCase()} (${rows.length})`);
      if (!rows.length) continue;
      table([
        ['account', 'code', 'evidence', 'remedy'],
        ...rows.map((f) => [
          (f.accountId.split('/').pop() ?? '').slice(0, 24),
          f.code,
          Object.entries(f.evidence).map(([k, v]) => `${k}=${String(v).slice(0, 40)}`).join(' ').slice(0, 70),
          f.remedy.slice(0, 60),
        ]),
      ]);
    }
    out(`\nSweep ${sweep?.sweepId}: ${sweep?.status}, ${sweep?.accountsSeen} accounts, ${sweep?.keysRead} keys, ${sweep?.durationMs} ms; by severity ${JSON.stringify(sweep?.findingsBySeverity)}`);

    const problems: string[] = [];
    for (const [name, expected] of Object.entries(estate.expected)) {
      const id = estate.accounts[name] ?? '';
      const got = findings.filter((f) => f.accountId === id).map((f) => f.code).sort();
      if (JSON.stringify(got) !== JSON.stringify([...expected].sort())) problems.push(`${name}: expected [${expected.join(', ')}], got [${got.join(', ')}]`);
    }
    const orphans = findings.filter((f) => !label.has(f.accountId));
    if (orphans.length) problems.push(`${orphans.length} findings for accounts outside the estate`);
    if (sweep?.status !== 'completed') problems.push(`sweep status ${sweep?.status}`);
    if (stack.arm.requests.some((r) => r.method === 'PATCH')) problems.push('report mode changed an account');

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (problems.length) {
      out(`\nFAIL (${seconds} s):`);
      for (const p of problems) out(`   - ${p}`);
      return 1;
    }
    out(`\nPASS (${seconds} s): every account has exactly its expected findings (${Object.keys(FINDING_RULES).length} codes known); nothing was changed.`);
    return 0;
  } finally {
    await stack.stop();
  }
}
