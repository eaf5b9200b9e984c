// The layering rules (.dependency-cruiser.cjs, run by npm run lint:deps) bite: a stub tree in a temp directory with a
// domain module that imports an adapter, and two modules that import each other, is reported by name.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './bicep';

const ROOT = repoRoot();

function write(dir: string, rel: string, text: string): void {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), text);
}

test('dependency-cruiser reports a domain module importing an adapter, and an import cycle, by rule name', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cmk-layering-'));
  try {
    write(dir, 'tsconfig.json', JSON.stringify({ compilerOptions: { module: 'commonjs', strict: true } }));
    write(dir, 'shared/adapters/store.ts', 'export const store = 1;\n');
    write(dir, 'shared/domain/rules.ts', "import { store } from '../adapters/store';\nexport const rule = store;\n");
    write(dir, 'shared/usecases/a.ts', "import { b } from './b';\nexport const a = (): number => b() + 1;\n");
    write(dir, 'shared/usecases/b.ts', "import { a } from './a';\nexport const b = (): number => a() - 1;\n");
    const cli = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruiser.mjs');
    const run = spawnSync(process.execPath, [cli, '--config', path.join(ROOT, '.dependency-cruiser.cjs'), 'shared'], { cwd: dir, encoding: 'utf8' });
    assert.notEqual(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /error domain-is-pure: shared\/domain\/rules\.ts → shared\/adapters\/store\.ts/);
    assert.match(run.stdout, /error no-circular: shared\/usecases\/a\.ts →\s+shared\/usecases\/b\.ts →\s+shared\/usecases\/a\.ts/);
    assert.match(run.stdout, /2 dependency violations/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
