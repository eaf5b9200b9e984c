// Checks how azd packages the Function App: the prepackage hook stages compiled code, host.json and production-only
// node_modules in services.api.dist, and .funcignore agrees with remoteBuild: false both at the root and in the stage.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { repoRoot } from './bicep';

const ROOT = repoRoot();

interface StageHook {
  STAGE: string;
  LOCAL_ONLY: string[];
  BUILD: string;
  INSTALL: string;
  stagePackage(root: string, run: (command: string, cwd: string) => void): string;
}
// The hook is plain JavaScript run by azd, outside the TypeScript build: load it by path.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const hook = require(path.join(ROOT, 'infra', 'hooks', 'stage-package.js')) as StageHook;

function readText(rel: string): string {
  return readFileSync(path.join(ROOT, rel), 'utf8');
}

/** The lines of azure.yaml's services.api block, without its indentation. */
function apiService(): string {
  const yaml = readText('azure.yaml');
  const block = /^services:\n {2}api:\n((?: {4,}.*\n|\s*\n)+)/m.exec(yaml)?.[1];
  assert.ok(block, 'azure.yaml has services.api');
  return block;
}

/**
 * .funcignore as azd applies it (github.com/denormal/go-gitignore at the version azd pins): the last matching line
 * wins, a leading "/" or an inner "/" matches from the file's folder, an unanchored name matches the last path
 * element, a trailing "/" matches folders only. Syntax outside that subset fails the check instead of being guessed.
 */
function funcignore(text: string): (rel: string, isDir: boolean) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((line) => {
      let pattern = line;
      const negated = pattern.startsWith('!');
      if (negated) pattern = pattern.slice(1);
      const anchored = pattern.startsWith('/');
      if (anchored) pattern = pattern.slice(1);
      const dirOnly = pattern.endsWith('/');
      if (dirOnly) pattern = pattern.slice(0, -1);
      assert.doesNotMatch(pattern, /\*\*|[?[\]\\]/, `.funcignore line "${line}" uses syntax this check does not model`);
      const isPath = pattern.includes('/');
      // Path patterns match with FNM_PATHNAME ("*" stops at "/"); name patterns without it.
      const star = isPath ? '[^/]*' : '.*';
      const re = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+^${}()|]/g, '\\$&')).join(star)}$`);
      const test = (rel: string, isDir: boolean): boolean =>
        (!dirOnly || isDir) && re.test(anchored || isPath ? rel : (rel.split('/').pop() ?? ''));
      return { negated, test };
    });
  return (rel, isDir) => {
    for (let i = rules.length - 1; i >= 0; i--) {
      const rule = rules[i];
      if (rule?.test(rel, isDir)) return !rule.negated;
    }
    return false;
  };
}

/** The files azd would put in the zip of `dir`: its .funcignore applied, excluded folders not entered (pkg/rzip). */
function zipEntries(dir: string): string[] {
  const ignored = funcignore(existsSync(path.join(dir, '.funcignore')) ? readFileSync(path.join(dir, '.funcignore'), 'utf8') : '');
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      const isDir = entry.isDirectory();
      // azd's own exclusions for function apps, before the ignore file.
      if ((entry.name === '.azure' && isDir) || (!isDir && ['.funcignore', 'local.settings.json'].includes(entry.name))) continue;
      if (ignored(child, isDir)) continue;
      if (isDir) walk(child);
      else out.push(child);
    }
  };
  walk('');
  return out.sort();
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(child);
      else out.push(child);
    }
  };
  walk('');
  return out.sort();
}

function write(root: string, rel: string, text = ''): void {
  mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  writeFileSync(path.join(root, rel), text);
}

describe('the cmk-rotator command', () => {
  test('package.json bin is built executable, so npx (or a global install) runs it by its shebang', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; version: string };
    const bin = path.join(ROOT, pkg.bin['cmk-rotator'] ?? '');
    assert.ok((statSync(bin).mode & 0o111) !== 0, `${bin} is not executable`);
    const run = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    assert.deepEqual([run.status, run.stdout.trim()], [0, pkg.version], run.stderr);
  });
});

describe('deployment package', () => {
  test('azure.yaml: azd zips the staged folder, built by a service-level prepackage hook on both shells', () => {
    const api = apiService();
    assert.match(api, new RegExp(`^ {4}dist: ${hook.STAGE.replace(/[./]/g, '\\$&')}$`, 'm'), `services.api.dist is the hook's STAGE (${hook.STAGE})`);
    assert.match(api, /^ {4}remoteBuild: false$/m, 'the staged package is complete; no Oryx build');
    // A service hook, not a project one: project-level prepackage runs for `azd package` only, not for deploy or up.
    const prepackage = /^ {4}hooks:\n {6}prepackage:\n((?: {8,}.*\n)+)/m.exec(api)?.[1] ?? '';
    for (const shell of ['posix', 'windows']) {
      const block = new RegExp(`^ {8}${shell}:\\n((?: {10,}.*\\n)+)`, 'm').exec(prepackage)?.[1] ?? '';
      assert.match(block, /^ {10}run: node infra\/hooks\/stage-package\.js(; exit \$LASTEXITCODE)?$/m, `prepackage (${shell}) runs the staging hook`);
      assert.match(block, /^ {10}continueOnError: false$/m, `prepackage (${shell}) stops the deploy when staging fails`);
    }
  });

  test('the hook builds, stages compiled code and project files without local-only folders, then installs production dependencies there', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'cmk-stage-'));
    try {
      write(root, 'package.json', '{"name":"fixture","main":"dist/functions/*.js"}');
      write(root, 'package-lock.json', '{"lockfileVersion":3}');
      write(root, 'host.json', '{"version":"2.0"}');
      write(root, '.funcignore', readText('.funcignore'));
      write(root, 'local.settings.json', '{"Values":{}}');
      for (const source of ['functions/a.ts', 'shared/b.ts', 'dev/serve.ts', 'test/x.test.ts', 'infra/main.bicep']) write(root, source);
      for (const compiled of ['dist/functions/a.js', 'dist/functions/a.js.map', 'dist/shared/b.js', 'dist/dev/serve.js', 'dist/test/x.test.js', 'dist/.tsbuildinfo']) write(root, compiled);
      write(root, `${hook.STAGE}/stale.js`);
      write(root, 'node_modules/typescript/package.json', '{"name":"typescript"}');

      const calls: [string, string][] = [];
      const stage = hook.stagePackage(root, (command, cwd) => {
        calls.push([command, cwd]);
        if (command === hook.BUILD) write(root, 'dist/functions/built.js');
        if (command === hook.INSTALL) {
          assert.equal(existsSync(path.join(cwd, 'node_modules')), false, 'the local node_modules is not copied into the stage');
          write(cwd, 'node_modules/zod/index.js');
        }
      });

      assert.equal(stage, path.join(root, hook.STAGE));
      assert.deepEqual(calls, [[hook.BUILD, root], [hook.INSTALL, stage]], 'build at the root, then install in the stage');
      assert.deepEqual(filesUnder(stage), [
        '.funcignore',
        'dist/functions/a.js',
        'dist/functions/a.js.map',
        'dist/functions/built.js',
        'dist/shared/b.js',
        'host.json',
        'node_modules/zod/index.js',
        'package-lock.json',
        'package.json',
      ]);
      // What azd zips from the stage: no source maps, no ignore file.
      assert.deepEqual(zipEntries(stage), ['dist/functions/a.js', 'dist/functions/built.js', 'dist/shared/b.js', 'host.json', 'node_modules/zod/index.js', 'package-lock.json', 'package.json']);
      assert.ok(existsSync(path.join(root, 'node_modules/typescript/package.json')), 'the developer\'s node_modules is untouched');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('the install is `npm ci` without devDependencies, and the lockfile marks every devDependency dev-only', () => {
    assert.match(hook.INSTALL, /^npm ci\b/, 'npm ci installs exactly the lockfile');
    assert.match(hook.INSTALL, /\s--omit=dev\b|\s--production\b/);
    const manifest = JSON.parse(readText('package.json')) as { devDependencies?: Record<string, string> };
    type Entry = { dev?: boolean; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    const lock = JSON.parse(readText('package-lock.json')) as { packages: Record<string, Entry> };
    const devDependencies = Object.keys(manifest.devDependencies ?? {});
    assert.ok(devDependencies.includes('typescript') && devDependencies.includes('azurite'));
    // A package that a production dependency needs too is installed for that one, whoever else lists it.
    const neededInProduction = (name: string): string | undefined => Object.entries(lock.packages)
      .find(([key, entry]) => key && !entry.dev && (name in (entry.dependencies ?? {}) || name in (entry.optionalDependencies ?? {})))?.[0];
    // "dev": true means nothing in dependencies needs the package, so --omit=dev leaves it out.
    for (const name of devDependencies) {
      if (lock.packages[`node_modules/${name}`]?.dev === true) continue;
      assert.ok(neededInProduction(name), `${name} would be installed by --omit=dev`);
    }
    for (const name of ['typescript', 'azurite', 'eslint', 'tree-sitter-bicep']) assert.equal(lock.packages[`node_modules/${name}`]?.dev, true, `${name} is dev-only`);
  });

  test('.funcignore keeps node_modules (remoteBuild: false), has no negations, and leaves sources, tests, dev tools and infra out', () => {
    const text = readText('.funcignore');
    assert.deepEqual(text.split(/\r?\n/).filter((l) => l.trim().startsWith('!')), [], 'azd before 1.23.13 treats a negated match as an exclusion');
    const ignored = funcignore(text);
    // azd's own check: ignore.Relative("node_modules", true) must not match when remoteBuild is false.
    assert.equal(ignored('node_modules', true), false, 'node_modules must not be excluded');
    for (const kept of ['host.json', 'package.json', 'dist', 'dist/functions', 'dist/functions/a.js', 'node_modules/zod/index.js', 'node_modules/some-package/test', 'node_modules/some-package/dev'])
      assert.equal(ignored(kept, !kept.includes('.')), false, `${kept} is deployed`);
    for (const left of ['dev', 'test', 'infra', '.ci', '.vscode', 'dist/dev', 'dist/test', hook.STAGE])
      assert.equal(ignored(left, true), true, `${left}/ is not deployed`);
    for (const left of ['functions/a.ts', 'shared/b.ts', 'dist/functions/a.js.map', 'local.settings.sample.json', 'tsconfig.json'])
      assert.equal(ignored(left, false), true, `${left} is not deployed`);
    for (const name of hook.LOCAL_ONLY) assert.equal(ignored(`dist/${name}`, true), true, `dist/${name} is left out at the root too`);
  });

  test('the code the host loads (package.json main) needs no devDependency, dev/ or test/', () => {
    const manifest = JSON.parse(readText('package.json')) as { main: string };
    const lock = JSON.parse(readText('package-lock.json')) as { packages: Record<string, { dev?: boolean }> };
    const blocked = [
      ...Object.entries(lock.packages).filter(([key, entry]) => key && entry.dev).map(([key]) => path.join(ROOT, key)),
      ...hook.LOCAL_ONLY.map((name) => path.join(ROOT, 'dist', name)),
    ];
    const functionsDir = path.join(ROOT, path.dirname(manifest.main));
    const entries = readdirSync(functionsDir).filter((f) => f.endsWith('.js')).map((f) => path.join(functionsDir, f));
    assert.ok(entries.length >= 4, `expected the compiled functions in ${functionsDir}`);
    // A child process whose resolver refuses anything npm ci --omit=dev would not install.
    const script = `
      const Module = require('node:module');
      const path = require('node:path');
      const [blocked, entries] = JSON.parse(process.argv[1]);
      const resolve = Module._resolveFilename;
      Module._resolveFilename = function (request, ...rest) {
        const file = resolve.call(this, request, ...rest);
        const hit = blocked.find((dir) => file === dir || file.startsWith(dir + path.sep));
        if (hit) throw new Error('not in the deployed package: ' + request + ' -> ' + hit);
        return file;
      };
      for (const entry of entries) require(entry);
      process.stdout.write('loaded ' + entries.length);
    `;
    const child = spawnSync(process.execPath, ['-e', script, JSON.stringify([blocked, entries])], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, `loaded ${entries.length}`);
  });
});
