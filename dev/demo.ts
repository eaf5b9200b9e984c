import { KeyClient } from '@azure/keyvault-keys';
import type { AccountState, RotationRecord } from '../shared/domain/model';
import { localCredential } from './credential';
import { seedDemoEstate } from './estate';
import type { LogEntry } from './invocations';
import { startLocalStack } from './stack';

import { METRICS, WORKBOOK } from '../shared/telemetry/metrics';
import { complianceDemo } from './demoCompliance';
import { out, short, table } from './print';

// The main job on the embedded local stack: a new key version reaches every bound account.

/** Seconds from the new version's creation to each account verified on it, from the rotation.finished events. */
const lags = new Map<string, number>();

/** The service's events as they happen (shared/telemetry/catalogue.ts), one line each. */
function progress(entry: LogEntry): void {
  const f = entry.fields;
  const account = typeof f.accountId === 'string' ? (f.accountId.split('/').pop() ?? '') : '';
  if (entry.event === 'key-event.queued') out(`   [keyVaultEvents] ${f.eventType} for ${f.keyName}/${short(String(f.version))} -> fan-out job queued`);
  else if (entry.event === 'fan-out.done') out(`   [rotationWorker] fan-out: ${f.bindings} bindings to ${f.keyName} -> ${f.queued} rebind jobs`);
  else if (entry.event === 'rotation.finished') {
    out(`   [rotationWorker] ${account}: ${f.status} ${short(String(f.from))} -> ${short(String(f.to))}${f.reason ? ` (${f.reason})` : ''}`);
    if (typeof f.bindingLagSeconds === 'number') lags.set(account, f.bindingLagSeconds);
  } else if (entry.level === 'error' || entry.level === 'warning') out(`   [${entry.functionName}] ${entry.level}: ${entry.event ?? entry.message}`);
}

async function rotationDemo(started: number): Promise<number> {
  out('cmk-rotator demo: Azurite (Tables, Queues), Key Vault and ARM stand-ins over HTTPS, dev host');
  const stack = await startLocalStack({ onLog: progress });
  try {
    const vault = await stack.addVault({ name: 'kv-cmk-demo' });
    out(`   Azurite ${stack.azurite.tableUrl} | ARM ${stack.arm.url} | vault ${vault.vaultUri} | dev host ${stack.host.url}`);

    const estate = await seedDemoEstate(vault, stack.arm);
    const before = new Map<string, AccountState | undefined>();
    for (const id of [...estate.bound, ...estate.untouched]) before.set(id, await stack.services.accounts.getAccount(id));
    out(`\n1. Key cmk v1 = ${estate.cmkV1}; accounts: ${[...before.values()].map((a) => `${a?.name} (${a?.kind}, ${a?.binding ? `${a.binding.keyName}/${short(a.binding.keyVersion)}` : 'Microsoft-managed'})`).join(', ')}`);

    const client = new KeyClient(vault.vaultUri, localCredential, { disableChallengeResourceVerification: true, tlsOptions: { ca: vault.ca } });
    const rotated = await client.rotateKey('cmk');
    const v2 = rotated.properties.version ?? '';
    out(`\n2. Rotated cmk through the Key Vault API: new version ${v2}; Key Vault publishes KeyNewVersionCreated`);
    await stack.settle();

    const rows: RotationRecord[] = await stack.services.ledger.all();
    out(`\n3. Ledger rows read back from Azurite Table Storage (Rotations), newest first per account:`);
    table([
      ['account', 'trigger', 'status', 'from', 'to', 'attempt', 'ms'],
      ...rows.map((r) => [r.accountId.split('/').pop() ?? '', r.trigger, r.status, short(r.fromVersion), short(r.toVersion), String(r.attempt), String(r.durationMs ?? '')]),
    ]);

    out(`\n4. Accounts read back through ARM:`);
    const problems: string[] = [];
    const finalRows: string[][] = [['account', 'key URI']];
    for (const [id, was] of before) {
      const now = await stack.services.accounts.getAccount(id);
      const b = now?.binding;
      finalRows.push([now?.name ?? id, b ? `${b.vaultUri.replace(/\/$/, '')}/keys/${b.keyName}/${b.keyVersion}` : 'Microsoft-managed keys']);
      if (estate.bound.includes(id)) {
        if (b?.keyVersion !== v2 || now?.provisioningState !== 'Succeeded') problems.push(`${now?.name}: expected ${v2} and Succeeded, found ${b?.keyVersion} and ${now?.provisioningState}`);
      } else if (JSON.stringify(now) !== JSON.stringify(was)) {
        problems.push(`${was?.name} changed but should be untouched`);
      }
    }
    table(finalRows);
    const patches = estate.bound.reduce((n, id) => n + stack.arm.patchCount(id), 0) + estate.untouched.reduce((n, id) => n + stack.arm.patchCount(id), 0);
    if (patches !== estate.bound.length) problems.push(`expected ${estate.bound.length} PATCH requests, ARM saw ${patches}`);
    if (lags.size !== estate.bound.length) problems.push(`expected a binding lag for each of ${estate.bound.length} accounts, the events gave ${lags.size}`);

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (problems.length) {
      out(`\nFAIL (${seconds} s):`);
      for (const p of problems) out(`   - ${p}`);
      return 1;
    }
    out(`\n5. Binding lag: from version ${short(v2)}'s creation to each account verified on it (Azure Storage: within 24 h):`);
    table([['account', 'binding lag (s)'], ...[...lags].map(([name, seconds]) => [name, seconds.toFixed(1)])]);
    out(`   In Azure: metric ${METRICS.bindingLag} (Application Insights customMetrics), workbook "${WORKBOOK.displayName}", tab "${WORKBOOK.tabs.bindingLag}";`);
    out('   each value is also the bindingLagSeconds field of the rotation.finished event (traces).');
    out(`\nPASS (${seconds} s): ${estate.bound.length} bound accounts on ${short(v2)} with ${patches} PATCH requests; ${estate.untouched.length} others untouched.`);
    return 0;
  } finally {
    await stack.stop();
  }
}

function main(): Promise<number> {
  const i = process.argv.indexOf('--scenario');
  const scenario = i >= 0 ? process.argv[i + 1] : 'rotation';
  if (scenario === 'compliance') return complianceDemo(Date.now());
  if (scenario === 'rotation') return rotationDemo(Date.now());
  process.stderr.write(`unknown scenario "${scenario}": use rotation (default) or compliance\n`);
  return Promise.resolve(2);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(2);
  },
);
