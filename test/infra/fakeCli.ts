// Fake `az` and `azd` for the azd hook tests: executables in a temp folder placed first (and alone, beside node) on
// PATH, answering from scripted rules and recording every call, so a hook runs as azd runs it and never reaches Azure.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'node:test';
import { repoRoot } from './bicep';

export interface FakeAnswer {
  status?: number;
  stdout?: string;
  stderr?: string;
}

/** Answers calls of `command` whose arguments start with `args`; the n-th matching call gets answers[n] (the last repeats). */
export interface FakeRule {
  command: 'az' | 'azd';
  args: string[];
  answers: FakeAnswer[];
}

export interface FakeCall {
  command: string;
  args: string[];
}

export interface HookRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** azd env set and azd provision succeed; what they were asked is in calls(). */
export const AZD_OK: FakeRule[] = [
  { command: 'azd', args: ['env', 'set'], answers: [{}] },
  { command: 'azd', args: ['provision'], answers: [{ stdout: 'fake provision done\n' }] },
];

/** For one test file: a new fake per test from its rules (after azd's usual answers unless told), removed after the test. */
export function fakeCliPerTest(extra: FakeRule[] = AZD_OK): (rules: FakeRule[]) => FakeCli {
  let fake: FakeCli | undefined;
  afterEach(() => fake?.dispose());
  return (rules) => (fake = new FakeCli([...rules, ...extra]));
}

// The fake itself: finds the first matching rule, counts its calls in a file, records the call, answers.
const FAKE_SOURCE = `
const fs = require('node:fs');
const path = require('node:path');
const dir = __dirname;
const [command, ...args] = process.argv.slice(2);
fs.appendFileSync(path.join(dir, 'calls.jsonl'), JSON.stringify({ command, args }) + '\\n');
const rules = JSON.parse(fs.readFileSync(path.join(dir, 'rules.json'), 'utf8'));
const index = rules.findIndex((r) => r.command === command && r.args.every((a, i) => args[i] === a));
if (index < 0) {
  process.stderr.write('fake ' + command + ': no rule for ' + JSON.stringify(args) + '\\n');
  process.exit(99);
}
const counter = path.join(dir, 'count-' + index);
const count = fs.existsSync(counter) ? Number(fs.readFileSync(counter, 'utf8')) : 0;
fs.writeFileSync(counter, String(count + 1));
const answers = rules[index].answers;
const answer = answers[Math.min(count, answers.length - 1)] || {};
process.stdout.write(answer.stdout || '');
process.stderr.write(answer.stderr || '');
process.exit(answer.status || 0);
`;

export class FakeCli {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'cmk-fake-cli-'));

  constructor(rules: FakeRule[]) {
    writeFileSync(path.join(this.dir, 'rules.json'), JSON.stringify(rules));
    writeFileSync(path.join(this.dir, 'fake.js'), FAKE_SOURCE);
    for (const command of ['az', 'azd']) {
      const file = path.join(this.dir, command);
      writeFileSync(file, `#!/bin/sh\nexec "${process.execPath}" "${path.join(this.dir, 'fake.js')}" ${command} "$@"\n`);
      chmodSync(file, 0o755);
    }
  }

  /** Runs infra/hooks/<hook> with only `env` (plus PATH), as azd would with the environment's values. */
  runHook(hook: string, env: Record<string, string>): HookRun {
    const script = path.join(repoRoot(), 'infra', 'hooks', hook);
    assert.ok(existsSync(script), `${script} is missing`);
    const PATH = [this.dir, path.dirname(process.execPath)].join(path.delimiter);
    const child = spawnSync(process.execPath, [script], { env: { PATH, ...env }, encoding: 'utf8', timeout: 30_000 });
    return { status: child.status, stdout: child.stdout, stderr: child.stderr };
  }

  calls(command?: string): FakeCall[] {
    const file = path.join(this.dir, 'calls.jsonl');
    if (!existsSync(file)) return [];
    const all = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as FakeCall);
    return command ? all.filter((c) => c.command === command) : all;
  }

  /** NAME=value pairs the hook stored with `azd env set`, in order. */
  envSets(): [string, string][] {
    return this.calls('azd')
      .filter((c) => c.args[0] === 'env' && c.args[1] === 'set')
      .map((c) => [c.args[2] ?? '', c.args[3] ?? '']);
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Asserts that project-level hook `name` in azure.yaml runs infra/hooks/<script> on both shells and stops azd when it fails. */
export function assertProjectHook(yaml: string, name: string, script: string): void {
  const hooks = /^hooks:\n((?: {2,}.*\n|\s*\n)+)/m.exec(yaml)?.[1] ?? '';
  const block = new RegExp(`^ {2}${name}:\\n((?: {4,}.*\\n|\\n)+)`, 'm').exec(hooks)?.[1] ?? '';
  const expected = { posix: `node infra/hooks/${script}`, windows: `node infra/hooks/${script}; exit $LASTEXITCODE` };
  for (const [shell, run] of Object.entries(expected)) {
    const text = new RegExp(`^ {4}${shell}:\\n((?: {6,}.*\\n|\\n)+)`, 'm').exec(block)?.[1] ?? '';
    assert.equal(/^ {6}run: (.*)$/m.exec(text)?.[1], run, `azure.yaml hooks.${name}.${shell} runs ${script}`);
    assert.match(text, /^ {6}continueOnError: false$/m, `azure.yaml hooks.${name}.${shell} stops azd when the hook fails`);
  }
}
