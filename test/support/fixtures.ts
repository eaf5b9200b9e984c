import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The project root: the nearest folder above this file that holds package.json. */
export function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + __dirname);
    dir = up;
  }
  return dir;
}

/** REST and event examples vendored into the repository (provenance in SOURCES.md there). */
export const fixturesDir = join(projectRoot(), 'test', 'fixtures');

export function readFixture<T = unknown>(relativePath: string): T {
  return JSON.parse(readFileSync(join(fixturesDir, relativePath), 'utf8')) as T;
}

export function fixtureFiles(folder: string): string[] {
  return readdirSync(join(fixturesDir, folder))
    .filter((f) => f.endsWith('.json'))
    .map((f) => join(folder, f));
}
