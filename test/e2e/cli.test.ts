// The CLI against the local stack, as `npm run dev` points it there (dev/cliEnvironment.ts): audit and plan read the
// estate through the ARM and Key Vault stand-ins and write nothing; the API commands act through the dev host.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cliEnvironment, writeCaFile } from '../../dev/cliEnvironment';
import { accountArmId, accountResource, grantKeyAccess, principalOf, seedDevEstate } from '../../dev/estate';
import type { KeyVaultStandIn } from '../../dev/keyVaultStandIn';
import { LOCAL_SUBSCRIPTION, startLocalStack, type LocalStack } from '../../dev/stack';
import { cliWith, type CliResult } from '../support/cli';
import { projectRoot } from '../support/fixtures';

let stack: LocalStack;
let vault: KeyVaultStandIn;
let ca: { file: string; remove(): void };
let cli: ReturnType<typeof cliWith>;
let env: Record<string, string>;
const chat = accountArmId('aoai-chat-prod');
const legacy = accountArmId('aoai-legacy');

before(async () => {
  stack = await startLocalStack();
  vault = await stack.addVault({ name: 'kv-cli' });
  await seedDevEstate(vault, stack.arm);
  ca = writeCaFile(stack);
  env = cliEnvironment(stack, ca.file);
  cli = cliWith(env);
});
after(async () => {
  ca?.remove();
  await stack?.stop();
});

const writes = () => [
  ...stack.arm.requests.filter((r) => r.method !== 'GET' && !(r.method === 'POST' && /resources$/i.test(r.path.split('?')[0] ?? ''))),
  ...vault.requests.filter((r) => r.method !== 'GET'),
];

function explain(r: CliResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

describe('cmk-rotator against the local stack', () => {
  test('--help lists every command, and each command has its own --help', async () => {
    const help = await cli(['--help']);
    assert.equal(help.code, 0, explain(help));
    const commands = ['audit', 'plan', 'rotate', 'status', 'history', 'pin', 'unpin', 'sweep'];
    for (const c of commands) assert.match(help.stdout, new RegExp(`^  ${c}\\b`, 'm'), `--help lists ${c}`);
    for (const c of commands) {
      const own = await cli([c, '--help']);
      assert.equal(own.code, 0, explain(own));
      assert.match(own.stdout, new RegExp(`^Usage: cmk-rotator ${c}\\b`, 'm'));
    }
  });

  test('the compiled bin runs on its own (shebang, package.json bin) and exits 2 on an unknown command', () => {
    const bin = path.join(projectRoot(), 'dist', 'cli', 'main.js');
    const help = execFileSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    assert.match(help, /^Usage: cmk-rotator/m);
    assert.ok(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node'));
    let status = 0;
    try {
      execFileSync(process.execPath, [bin, 'frobnicate'], { stdio: 'pipe' });
    } catch (error) {
      status = (error as { status: number }).status;
    }
    assert.equal(status, 2);
  });

  test('audit prints the findings by severity with remedies and a summary, exits 1 with --fail-on critical, and writes nothing', async () => {
    const findingsBefore = await stack.services.findings.list();
    const before = writes().length;
    const r = await cli(['audit', '--subscription', LOCAL_SUBSCRIPTION, '--fail-on', 'critical']);
    assert.equal(r.code, 1, explain(r));
    assert.match(r.stdout, /^CRITICAL \(1\)$/m);
    assert.match(r.stdout, /^ {2}aoai-legacy +- +key-disabled +Enable the bound version again/m);
    assert.match(r.stdout, /^Key versions in use$/m);
    assert.match(r.stdout, /^ {2}\S+ +cmk +[0-9a-f]{8} +3$/m, 'three bindings on one cmk version');
    // aoai-drift's drift is a warning an enforcing sweep would repair: the audit reports it and queues nothing.
    assert.match(r.stdout, /^WARNING \(1\)$/m);
    assert.match(r.stdout, /^ {2}aoai-drift +- +version-drift +Rebind the account to version [0-9a-f]{32}/m);
    assert.match(r.stdout, /^Summary: 6 accounts, 4 keys, 4 versions in use, 1 drifting; findings 1 critical, 1 warning, 0 info$/m);
    assert.match(r.stderr, /^discovery: page 1, 6 CMK-bound accounts so far$/m, 'plain progress lines off a terminal');
    assert.match(r.stderr, /^read 6 accounts \(6 judged\), \d+ Key Vault reads in [\d.]+ s$/m);
    assert.equal(writes().length, before, 'no PATCH, PUT, DELETE or rotation');
    assert.deepEqual(await stack.services.findings.list(), findingsBefore, 'the app\'s Findings table is untouched');

    const lenient = await cli(['audit', '--subscription', LOCAL_SUBSCRIPTION]);
    assert.equal(lenient.code, 0, 'without --fail-on the report is information');
    const warning = await cli(['audit', '--subscription', LOCAL_SUBSCRIPTION, '--fail-on', 'warning']);
    assert.equal(warning.code, 1, 'a critical finding is at or above warning');
  });

  test('audit --output json gives the summary, each finding with its evidence, and the versions in use', async () => {
    const r = await cli(['audit', '--subscription', LOCAL_SUBSCRIPTION, '--output', 'json']);
    assert.equal(r.code, 0, explain(r));
    const report = JSON.parse(r.stdout);
    assert.equal(report.summary.status, 'completed');
    assert.deepEqual([report.summary.accounts, report.summary.critical, report.summary.drift], [6, 1, 1]);
    assert.deepEqual(report.findings.filter((f: any) => f.severity === 'critical').map((f: any) => [f.accountName, f.code, f.evidence.keyName]), [['aoai-legacy', 'key-disabled', 'legacy-cmk']]);
    assert.deepEqual(report.findings.filter((f: any) => f.code === 'version-drift').map((f: any) => f.accountName), ['aoai-drift']);
    assert.equal(report.versions.find((v: any) => v.keyName === 'cmk').accounts, 3);
  });

  test('audit on a terminal redraws one progress line in place', async () => {
    const r = await cli(['audit', '--subscription', LOCAL_SUBSCRIPTION], { tty: true });
    assert.equal(r.code, 0, explain(r));
    assert.ok(r.stderr.includes('\r\u001b[2K'), 'the line is redrawn in place');
    assert.match(r.stderr, /(discovering|judging): \d+ accounts found, \d+ judged, \d+ Key Vault reads/);
    assert.doesNotMatch(r.stderr, /^discovery: page/m);
  });

  test('audit refuses bad input with a message naming the flag or variable, exit 2, before any call', async () => {
    const before = stack.arm.requests.length;
    const none = await cli(['audit']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /name the estate: --subscription <id>/);
    // Each problem in the CLI's words, none contradicting another.
    const groupByArm = await cli(['audit', '--management-group', 'mg1', '--discovery', 'arm']);
    assert.equal(groupByArm.code, 2);
    assert.equal(groupByArm.stderr.trim(), 'cmk-rotator: --management-group needs --discovery=resource-graph (ARM lists one subscription at a time); --discovery arm lists subscriptions: name them with --subscription <id> (repeatable)');
    const bad = await cli(['audit', '--subscription', 'not-a-guid']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--subscription has "not-a-guid", which is not a subscription id/);
    const choice = await cli(['audit', '--subscription', LOCAL_SUBSCRIPTION, '--fail-on', 'info']);
    assert.equal(choice.code, 2);
    assert.match(choice.stderr, /--fail-on.*Allowed choices are critical, warning/);
    const remote = await cliWith({ ...env, CMK_ROTATOR_ARM_ENDPOINT: 'https://management.azure.com' })(['audit', '--subscription', LOCAL_SUBSCRIPTION]);
    assert.equal(remote.code, 2);
    assert.match(remote.stderr, /CMK_ROTATOR_LOCAL_CREDENTIAL is honoured only with a loopback CMK_ROTATOR_ARM_ENDPOINT/);
    assert.equal(stack.arm.requests.length, before);
  });

  test('plan shows what a rotation would do, by account or by key, and writes nothing', async () => {
    const before = writes().length;
    const byAccount = await cli(['plan', '--account', chat]);
    assert.equal(byAccount.code, 0, explain(byAccount));
    assert.match(byAccount.stdout, /^aoai-chat-prod +- +[0-9a-f]{8} +[0-9a-f]{8} +already-current +already bound to/m);
    const byKey = await cli(['plan', '--key', `${vault.vaultUri}cmk`, '--subscription', LOCAL_SUBSCRIPTION, '-o', 'json']);
    assert.equal(byKey.code, 0, explain(byKey));
    assert.deepEqual(JSON.parse(byKey.stdout).plan.map((l: any) => l.decision), ['already-current', 'already-current', 'already-current']);
    const broken = await cli(['plan', '--account', legacy]);
    assert.equal(broken.code, 0, explain(broken));
    assert.match(broken.stdout, /aoai-legacy .* refused +no-usable-version/);
    const bad = await cli(['plan', '--key', 'kv-prod/cmk', '--subscription', LOCAL_SUBSCRIPTION]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--key: "kv-prod\/cmk" is not <vaultUri>\/<keyName>/);
    // A key identifier with its version is not taken for the key with that version dropped.
    const versioned = await cli(['plan', '--key', `${vault.vaultUri}keys/cmk/${'0'.repeat(32)}`, '--subscription', LOCAL_SUBSCRIPTION]);
    assert.equal(versioned.code, 2);
    assert.match(versioned.stderr, /--key: .* names a version; give <vaultUri>\/<keyName> and the version with --key-version/);
    assert.equal(writes().length, before);
  });

  test('plan --account reads the account\'s subscription and those --subscription names (its vault\'s)', async () => {
    const far = '0b0b0b0b-0000-4000-8000-000000000001';
    const { version } = await vault.createKey('far-cmk', { publish: false });
    stack.arm.putAccount(accountResource({ name: 'aoai-far', subscriptionId: far, key: { vaultUri: vault.vaultUri, name: 'far-cmk', version } }));
    grantKeyAccess(stack.arm, vault, [principalOf('aoai-far')]);
    // A newer version: the plan would move the account, once it can prove the account's access to the key.
    await vault.createKey('far-cmk', { publish: false });
    const id = accountArmId('aoai-far', 'rg-ai', far);
    const alone = await cli(['plan', '--account', id]);
    assert.match(alone.stdout, /aoai-far .* refused +access-unverifiable/, 'the vault is in no subscription read');
    const withVault = await cli(['plan', '--account', id, '--subscription', LOCAL_SUBSCRIPTION]);
    assert.equal(withVault.code, 0, explain(withVault));
    assert.match(withVault.stdout, /^aoai-far +- +[0-9a-f]{8} +[0-9a-f]{8} +patch$/m);
  });

  test('--allowed-key-sizes beyond 2048 needs --allow-key-sizes-unsupported-by-azure, which the message names', async () => {
    const refused = await cli(['audit', '--subscription', LOCAL_SUBSCRIPTION, '--allowed-key-sizes', '2048,3072']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--allowed-key-sizes lists 3072, .*add --allow-key-sizes-unsupported-by-azure/);
    const allowed = await cli(['audit', '--subscription', LOCAL_SUBSCRIPTION, '--allowed-key-sizes', '2048,3072', '--allow-key-sizes-unsupported-by-azure']);
    assert.equal(allowed.code, 0, explain(allowed));
  });
});

describe('cmk-rotator against the dev host\'s API', () => {
  const versionOf = async (id: string) => (await stack.services.accounts.getAccount(id))?.binding?.keyVersion;

  test('rotate --wait shows each job moving and ends on its status; status and history read the same jobs', async () => {
    const r = await cli(['rotate', '--key', `${vault.vaultUri}cmk`, '--rotate-key', '--wait', '--interval', '0.05']);
    assert.equal(r.code, 0, explain(r));
    assert.match(r.stderr, /^queued 3 jobs; waiting for them to finish$/m);
    // The new version's own KeyNewVersionCreated event races the manual jobs: whichever moves an account first, the other finds it current.
    assert.match(r.stderr, /^\d\d:\d\d:\d\d aoai-chat-prod: (succeeded|already-current) \(attempt \d+\): (verified|already bound)/m);
    const rows = r.stdout.trim().split('\n').slice(1);
    assert.equal(rows.length, 3);
    for (const row of rows) assert.match(row, / (succeeded|already-current) /);
    const now = await versionOf(chat);
    assert.match(r.stdout, new RegExp(`aoai-chat-prod .* ${now?.slice(0, 8)} `));

    const history = await cli(['history', chat, '--limit', '5', '-o', 'json']);
    assert.equal(history.code, 0, explain(history));
    const latest = JSON.parse(history.stdout).rotations.find((row: any) => row.trigger === 'manual');
    assert.equal(latest.toVersion, now);
    const status = await cli(['status', latest.jobId]);
    assert.equal(status.code, 0, explain(status));
    assert.match(status.stdout, new RegExp(`aoai-chat-prod +- +${latest.status} `));
    const waited = await cli(['status', latest.jobId, '--wait', '-o', 'json']);
    assert.equal(JSON.parse(waited.stdout).jobs[0].status, latest.status);
  });

  test('rotate --dry-run prints the app\'s plan and queues nothing', async () => {
    const rows = (await stack.services.ledger.history(chat, 100)).length;
    const r = await cli(['rotate', '--account', chat, '--dry-run']);
    assert.equal(r.code, 0, explain(r));
    assert.match(r.stdout, /^aoai-chat-prod +- .* already-current/m);
    assert.equal((await stack.services.ledger.history(chat, 100)).length, rows);
  });

  test('a rotation that is refused exits 1', async () => {
    const r = await cli(['rotate', '--account', legacy, '--wait', '--interval', '0.05']);
    assert.equal(r.code, 1, explain(r));
    assert.match(r.stdout, /aoai-legacy +- +refused .*no-usable-version/);
  });

  test('pin --wait holds a binding at a version, unpin releases it', async () => {
    const pinned = await versionOf(chat);
    const r = await cli(['pin', '--account', chat, '--key-version', pinned ?? '', '--reason', 'hold for the test', '--wait', '--interval', '0.05']);
    assert.equal(r.code, 0, explain(r));
    assert.equal((await stack.services.pins.get(chat))?.keyVersion, pinned);
    const released = await cli(['unpin', '--account', chat]);
    assert.equal(released.code, 0, explain(released));
    assert.match(released.stdout, new RegExp(`released the pin of aoai-chat-prod to ${pinned}`));
    assert.equal(await stack.services.pins.get(chat), undefined);
    const again = await cli(['unpin', '--account', chat]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /pin-not-found/);
  });

  test('sweep --wait prints the app\'s report and exits 1 with --fail-on critical', async () => {
    const r = await cli(['sweep', '--wait', '--interval', '0.05', '--fail-on', 'critical']);
    assert.equal(r.code, 1, explain(r));
    assert.match(r.stdout, /^CRITICAL \(1\)$/m);
    assert.match(r.stdout, /aoai-legacy +- +key-disabled/);
  });

  test('API trouble is one line with its exit code: no app, no key, a wrong key, an unknown job', async () => {
    const noApp = await cliWith({ ...env, CMK_ROTATOR_APP: undefined })(['status', 'job-00000000']);
    assert.equal(noApp.code, 2);
    assert.match(noApp.stderr, /name the app: --app <url> or CMK_ROTATOR_APP/);
    const noKey = await cliWith({ ...env, CMK_ROTATOR_FUNCTION_KEY: undefined })(['status', 'job-00000000']);
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /set CMK_ROTATOR_FUNCTION_KEY/);
    const wrongKey = await cliWith({ ...env, CMK_ROTATOR_FUNCTION_KEY: 'wrong' })(['status', 'job-00000000']);
    assert.equal(wrongKey.code, 2);
    assert.match(wrongKey.stderr, /refused the function key/);
    const unknown = await cli(['status', 'job-00000000']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /job-not-found/);
    const down = await cli(['status', 'job-00000000', '--app', 'http://127.0.0.1:9']);
    assert.equal(down.code, 3);
    assert.match(down.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
  });
});
