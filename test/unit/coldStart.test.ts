import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROTATION_QUEUE } from '../../shared/adapters/queue';
import { loadFunctions } from '../../dev/registry';
import { projectRoot } from '../support/fixtures';

// What the Functions host loads at start-up: the registrations, not the SDKs or zod (they load on first use).
describe('cold start', () => {
  it('requiring the function modules and building the services (the appStart hook) loads no Azure SDK, no OpenTelemetry and no zod', () => {
    const script = `
      const { readdirSync } = require('node:fs');
      const dir = ${JSON.stringify(join(projectRoot(), 'dist', 'functions'))};
      for (const f of readdirSync(dir).filter((f) => f.endsWith('.js'))) require(dir + '/' + f);
      Object.assign(process.env, { AzureWebJobsStorage: 'UseDevelopmentStorage=true', SUBSCRIPTION_IDS: '11111111-2222-3333-4444-555555555555', SWEEP_SCHEDULE: '0 0 * * * *' });
      require(${JSON.stringify(join(projectRoot(), 'dist', 'shared', 'app.js'))}).services();
      process.stdout.write(JSON.stringify(Object.keys(require.cache)));`;
    const loaded = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as string[];
    const heavy = loaded.filter((p) => /node_modules[\\/](@azure[\\/](identity|data-tables|storage-queue|keyvault-keys|arm-[^\\/]+|core-rest-pipeline|core-client|monitor-opentelemetry)|@opentelemetry[\\/][^\\/]+|zod)[\\/]/.test(p));
    assert.deepEqual(heavy, []);
    assert.ok(loaded.some((p) => p.includes(join('@azure', 'functions'))), 'the probe did load the function modules');
  });

  it('the queue trigger listens on the queue the code sends to', () => {
    assert.equal(loadFunctions().storageQueue.get('rotationWorker')?.queueName, ROTATION_QUEUE);
  });
});
