// @ts-check
// azd prepackage hook of service "api" (azure.yaml): builds, then stages what the Function App runs in STAGE with
// production dependencies only. azd zips STAGE (services.api.dist) instead of the project root, so the developer's
// node_modules (with azurite, typescript, tree-sitter) stays as it is and never reaches Azure.
'use strict';

const { execSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

/** Staging folder, relative to the project root; azure.yaml's services.api.dist names the same folder. */
const STAGE = 'dist/deploy';
/** Compiled folders under dist/ that are local tooling, tests and the CLI (it runs on a person's machine), never deployed. */
const LOCAL_ONLY = ['dev', 'test', 'cli'];
/** host.json and package.json (main: dist/functions/*.js) are what the host reads; the lockfile pins what npm ci installs. */
const PROJECT_FILES = ['host.json', 'package.json', 'package-lock.json', '.funcignore'];
const BUILD = 'npm run build';
/** Exactly the lockfile's dependencies, without devDependencies; no scripts (the project's prepare builds, and there is nothing to build here). */
const INSTALL = 'npm ci --omit=dev --ignore-scripts --no-audit --no-fund';

/**
 * @param {string} root project root (holds package.json)
 * @param {(command: string, cwd: string) => void} run runs a shell command in a folder
 * @returns {string} the staging folder
 */
function stagePackage(root, run = (command, cwd) => execSync(command, { cwd, stdio: 'inherit' })) {
  run(BUILD, root);
  const stage = path.join(root, STAGE);
  const stageTop = path.relative(path.join(root, 'dist'), stage).split(path.sep)[0];
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(path.join(stage, 'dist'), { recursive: true });
  // Every compiled folder except local-only ones, so a new source folder is deployed without editing this list.
  for (const entry of fs.readdirSync(path.join(root, 'dist'), { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === stageTop || LOCAL_ONLY.includes(entry.name)) continue;
    fs.cpSync(path.join(root, 'dist', entry.name), path.join(stage, 'dist', entry.name), { recursive: true });
  }
  for (const file of PROJECT_FILES) fs.copyFileSync(path.join(root, file), path.join(stage, file));
  run(INSTALL, stage);
  return stage;
}

module.exports = { STAGE, LOCAL_ONLY, BUILD, INSTALL, stagePackage };

if (require.main === module) stagePackage(path.resolve(__dirname, '..', '..'));
