import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fixturesDir } from '../support/fixtures';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [relative(fixturesDir, path)];
  });
}

describe('vendored fixtures', () => {
  const sources = readFileSync(join(fixturesDir, 'SOURCES.md'), 'utf8');
  const rows = [...sources.matchAll(/^\| ([^|\s]+\.(?:json|md)) \|/gm)].map((m) => m[1] ?? '');
  const files = filesUnder(fixturesDir).filter((f) => f !== 'SOURCES.md');

  it('every vendored file has its provenance row in SOURCES.md', () => {
    assert.ok(files.length > 0);
    assert.deepEqual(files.filter((f) => !rows.includes(f)), []);
  });
  it('every SOURCES.md row names a file that is vendored', () => {
    assert.deepEqual(rows.filter((r) => !files.includes(r)), []);
  });
});
