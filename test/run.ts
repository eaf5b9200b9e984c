import { spawnSync } from 'node:child_process';

// npm test and npm run test:<tier>: node:test over the compiled *.test.js files of one tier, or of all.
const TIERS = ['unit', 'integration', 'e2e', 'infra'] as const;

const asked = process.argv[2] ?? 'all';
const tiers = asked === 'all' ? [...TIERS] : TIERS.filter((t) => t === asked);
if (tiers.length === 0) {
  process.stderr.write(`unknown test tier "${asked}": use all, ${TIERS.join(', ')}\n`);
  process.exit(2);
}
if (Number(process.versions.node.split('.')[0]) < 22) {
  process.stderr.write(`Node ${process.version} runs these tests; the project needs 22 or later (npm scripts use the pinned node from node_modules/.bin after npm install)\n`);
  process.exit(2);
}
process.stdout.write(`# cmk-rotator tests: ${tiers.join(', ')} on Node ${process.version}\n`);
const globs = tiers.map((tier) => `${__dirname}/${tier}/**/*.test.js`);
const run = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...globs], { stdio: 'inherit' });
process.exit(run.status ?? 1);
