import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, SETTINGS } from '../../shared/config';
import { QUEUE_SETTINGS } from '../../shared/queueSettings';
import { armClientOptions } from '../../shared/adapters/sdk';
import { projectRoot } from '../support/fixtures';

const valid = { AzureWebJobsStorage: 'UseDevelopmentStorage=true', SUBSCRIPTION_IDS: '11111111-2222-3333-4444-555555555555', SWEEP_SCHEDULE: '0 0 * * * *' };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ ...valid, ...env });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  return [];
}

describe('config', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(valid);
    assert.equal(c.armEndpoint, 'https://management.azure.com');
    assert.deepEqual(c.keyVaultHostSuffixes, ['.vault.azure.net', '.managedhsm.azure.net'], 'Key Vault and Managed HSM hosts of the public cloud');
    assert.equal(c.sweepMode, 'report');
    assert.equal(c.nearExpiryAction, 'bind-newer');
    assert.equal(c.nearExpiryDays, 30);
    assert.deepEqual(c.allowedKeySizes, [2048]);
    assert.equal(c.sweepSchedule, valid.SWEEP_SCHEDULE);
  });
  it('takes identity-based storage by account name', () => {
    const c = loadConfig({ AzureWebJobsStorage__accountName: 'stcmk', SUBSCRIPTION_IDS: valid.SUBSCRIPTION_IDS, SWEEP_SCHEDULE: valid.SWEEP_SCHEDULE });
    assert.deepEqual(c.storage, { tableServiceUri: 'https://stcmk.table.core.windows.net', queueServiceUri: 'https://stcmk.queue.core.windows.net' });
  });
  it('takes the storage endpoints from settings, so sovereign clouds work', () => {
    const c = loadConfig({
      AzureWebJobsStorage__accountName: 'stcmk', SUBSCRIPTION_IDS: valid.SUBSCRIPTION_IDS, SWEEP_SCHEDULE: valid.SWEEP_SCHEDULE,
      AzureWebJobsStorage__tableServiceUri: 'https://stcmk.table.core.usgovcloudapi.net/', AzureWebJobsStorage__queueServiceUri: 'https://stcmk.queue.core.usgovcloudapi.net',
    });
    assert.deepEqual(c.storage, { tableServiceUri: 'https://stcmk.table.core.usgovcloudapi.net', queueServiceUri: 'https://stcmk.queue.core.usgovcloudapi.net' });
    assert.ok(problems({ AzureWebJobsStorage: '', AzureWebJobsStorage__tableServiceUri: 'http://plain.example' }).some((p) => /AzureWebJobsStorage__tableServiceUri must be an https/.test(p)));
  });
  it('reads lists separated by commas, semicolons or spaces', () => {
    const c = loadConfig({
      ...valid, SUBSCRIPTION_IDS: `${valid.SUBSCRIPTION_IDS}; 22222222-2222-3333-4444-555555555555`, ALLOWED_KEY_SIZES: '2048, 3072', ALLOW_KEY_SIZES_UNSUPPORTED_BY_AZURE: 'true',
    });
    assert.equal(c.subscriptionIds.length, 2);
    assert.deepEqual(c.allowedKeySizes, [2048, 3072]);
  });
  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ SUBSCRIPTION_IDS: 'abc' }, /SUBSCRIPTION_IDS has "abc"/],
    [{ SUBSCRIPTION_IDS: '' }, /SUBSCRIPTION_IDS is required/],
    // The timer binding reads %SWEEP_SCHEDULE%: without it the host would index no sweep at all.
    [{ SWEEP_SCHEDULE: '' }, /^SWEEP_SCHEDULE is required$/],
    [{ AzureWebJobsStorage: '' }, /AzureWebJobsStorage/],
    [{ ARM_ENDPOINT: 'http://management.azure.com' }, /ARM_ENDPOINT must be an https/],
    [{ KEY_VAULT_HOST_SUFFIXES: 'vault/evil' }, /KEY_VAULT_HOST_SUFFIXES/],
    [{ SWEEP_SCHEDULE: 'every hour' }, /SWEEP_SCHEDULE/],
    [{ SWEEP_MODE: 'fix' }, /SWEEP_MODE must be one of report, enforce/],
    [{ NEAR_EXPIRY_ACTION: 'panic' }, /NEAR_EXPIRY_ACTION/],
    [{ NEAR_EXPIRY_DAYS: '0' }, /NEAR_EXPIRY_DAYS must be a whole number from 1 to 365/],
    [{ NEAR_EXPIRY_DAYS: 'ten' }, /NEAR_EXPIRY_DAYS/],
    [{ ALLOWED_KEY_SIZES: '1024' }, /ALLOWED_KEY_SIZES/],
    [{ KEY_EXPIRY_MARGIN_HOURS: '-1' }, /KEY_EXPIRY_MARGIN_HOURS/],
    // Given, but naming nothing: not the empty list (a sweep of no subscriptions would drop every finding).
    [{ SUBSCRIPTION_IDS: ',' }, /^SUBSCRIPTION_IDS lists nothing \(got ","\)$/],
    [{ KEY_VAULT_HOST_SUFFIXES: ' ; ' }, /^KEY_VAULT_HOST_SUFFIXES lists nothing/],
    [{ MANAGEMENT_GROUP_IDS: ',,' }, /^MANAGEMENT_GROUP_IDS lists nothing/],
    // A suffix of whole labels, and a port that exists.
    [{ KEY_VAULT_HOST_SUFFIXES: '.' }, /KEY_VAULT_HOST_SUFFIXES has "\."/],
    [{ KEY_VAULT_HOST_SUFFIXES: '.vault.azure.net.' }, /KEY_VAULT_HOST_SUFFIXES has "\.vault\.azure\.net\."/],
    [{ KEY_VAULT_HOST_SUFFIXES: '127.0.0.1:70000' }, /KEY_VAULT_HOST_SUFFIXES has "127\.0\.0\.1:70000"/],
    [{ KEY_VAULT_HOST_SUFFIXES: 'localhost:0' }, /KEY_VAULT_HOST_SUFFIXES has "localhost:0"/],
    // Decimal numbers only.
    [{ NEAR_EXPIRY_DAYS: '0x1e' }, /NEAR_EXPIRY_DAYS must be a whole number from 1 to 365 \(got "0x1e"\)/],
    [{ KEY_EXPIRY_MARGIN_HOURS: '1e1' }, /KEY_EXPIRY_MARGIN_HOURS/],
    [{ ALLOWED_KEY_SIZES: '0x800' }, /ALLOWED_KEY_SIZES must list RSA sizes/],
    // An origin and nothing else; what would carry a secret is not repeated.
    [{ ARM_ENDPOINT: 'https://user:secret@management.azure.com' }, /^ARM_ENDPOINT must be an https:\/\/ origin \(got "https:\/\/management\.azure\.com\/…"\)$/],
    [{ ARM_ENDPOINT: 'https://management.azure.com/?x=1' }, /^ARM_ENDPOINT must be an https:\/\/ origin \(got "https:\/\/management\.azure\.com\/…"\)$/],
    [{ ARM_ENDPOINT: 'https://manage\tment.azure.com' }, /^ARM_ENDPOINT must be an https:\/\/ origin/],
    // A root dot is shown with what is wrong, and what follows the host is still not.
    [{ ARM_ENDPOINT: 'https://management.azure.com.' }, /^ARM_ENDPOINT must be an https:\/\/ origin \(got "https:\/\/management\.azure\.com\.", a host ending in a dot\)$/],
    [{ ARM_ENDPOINT: 'https://management.azure.com./?sig=SECRET' }, /^ARM_ENDPOINT must be an https:\/\/ origin \(got "https:\/\/management\.azure\.com\.\/…", a host ending in a dot\)$/],
    [{ AzureWebJobsStorage: '', AzureWebJobsStorage__tableServiceUri: 'https://acct.table.core.windows.net.:443', AzureWebJobsStorage__queueServiceUri: 'https://acct.queue.core.windows.net' }, /^AzureWebJobsStorage__tableServiceUri must be an https:\/\/ endpoint \(got "https:\/\/acct\.table\.core\.windows\.net\.", a host ending in a dot\)$/],
    [{ AzureWebJobsStorage: '', AzureWebJobsStorage__tableServiceUri: 'https://acct.table.core.windows.net/?sv=2024&sig=SECRET', AzureWebJobsStorage__queueServiceUri: 'https://acct.queue.core.windows.net' }, /^AzureWebJobsStorage__tableServiceUri must be an https:\/\/ endpoint \(got "https:\/\/acct\.table\.core\.windows\.net\/…"\)$/],
  ];
  it('refuses key sizes Azure does not document (only RSA 2048) unless ALLOW_KEY_SIZES_UNSUPPORTED_BY_AZURE says so, naming both settings', () => {
    const refused = problems({ ALLOWED_KEY_SIZES: '2048,4096' });
    assert.equal(refused.length, 1);
    assert.match(refused[0] ?? '', /^ALLOWED_KEY_SIZES lists 4096, .*only RSA 2048.*ALLOW_KEY_SIZES_UNSUPPORTED_BY_AZURE=true/);
    assert.match(problems({ ALLOWED_KEY_SIZES: '3072', ALLOW_KEY_SIZES_UNSUPPORTED_BY_AZURE: 'false' }).join(' | '), /^ALLOWED_KEY_SIZES lists 3072, [^|]*$/);
    assert.deepEqual(loadConfig({ ...valid, ALLOWED_KEY_SIZES: '4096', ALLOW_KEY_SIZES_UNSUPPORTED_BY_AZURE: 'True' }).allowedKeySizes, [4096]);
    assert.ok(problems({ ALLOW_KEY_SIZES_UNSUPPORTED_BY_AZURE: 'yes' }).some((p) => /ALLOW_KEY_SIZES_UNSUPPORTED_BY_AZURE must be one of true, false \(got "yes"\)/.test(p)));
  });
  for (const [env, message] of bad) {
    it(`stops on ${JSON.stringify(env)} naming the setting`, () => {
      assert.ok(problems(env).some((p) => message.test(p)), problems(env).join(' | '));
    });
  }
  it('takes a vault suffix naming https\'s own port 443 as the suffix without a port, and keeps other ports', () => {
    assert.deepEqual(loadConfig({ ...valid, KEY_VAULT_HOST_SUFFIXES: '.vault.azure.net:443, 127.0.0.1:8443, localhost:*' }).keyVaultHostSuffixes, ['.vault.azure.net', '127.0.0.1:8443', 'localhost:*']);
  });
  it('takes ARM_ENDPOINT as the origin the URL parser reads, so the token scope built from it is ARM\'s', () => {
    for (const written of ['https://management.azure.com:443', 'https://management.azure.com/.', 'https:management.azure.com', 'https://MANAGEMENT.azure.com/']) {
      const { armEndpoint } = loadConfig({ ...valid, ARM_ENDPOINT: written });
      assert.equal(armEndpoint, 'https://management.azure.com', written);
      assert.deepEqual(armClientOptions(armEndpoint).credentialScopes, ['https://management.azure.com/.default'], written);
    }
    assert.equal(loadConfig({ ...valid, ARM_ENDPOINT: 'https://127.0.0.1:8443/' }).armEndpoint, 'https://127.0.0.1:8443', 'a port of its own is kept');
  });
  it('takes the storage endpoints as the origins the URL parser reads', () => {
    const c = loadConfig({
      AzureWebJobsStorage__accountName: 'stcmk', SUBSCRIPTION_IDS: valid.SUBSCRIPTION_IDS, SWEEP_SCHEDULE: valid.SWEEP_SCHEDULE,
      AzureWebJobsStorage__tableServiceUri: 'https:stcmk.table.core.windows.net', AzureWebJobsStorage__queueServiceUri: 'https://STCMK.queue.core.windows.net:443/.',
    });
    assert.deepEqual(c.storage, { tableServiceUri: 'https://stcmk.table.core.windows.net', queueServiceUri: 'https://stcmk.queue.core.windows.net' });
  });
  it('stops on a storage account name that is not one, since the endpoints are built from it', () => {
    for (const name of ['stcmk.blob.core.windows.net', 'https://stcmk.table.core.windows.net/', 'evil.example/x?', 'st']) {
      const found = problems({ AzureWebJobsStorage: '', AzureWebJobsStorage__accountName: name });
      assert.ok(found.some((p) => /^AzureWebJobsStorage__accountName must be a storage account name/.test(p)), `${name}: ${found.join(' | ')}`);
    }
  });
  it('needs SUBSCRIPTION_IDS with MANAGEMENT_GROUP_IDS too: the key vaults are read in those subscriptions only', () => {
    const found = problems({ SUBSCRIPTION_IDS: '', MANAGEMENT_GROUP_IDS: 'mg-ai' });
    assert.ok(found.some((p) => /^SUBSCRIPTION_IDS is required with MANAGEMENT_GROUP_IDS/.test(p)), found.join(' | '));
    assert.deepEqual(loadConfig({ ...valid, MANAGEMENT_GROUP_IDS: 'mg-ai' }).managementGroupIds, ['mg-ai']);
  });
  it('a secret in a setting is not repeated in the error, however the value is written', () => {
    const storage = (uri: string) => ({ AzureWebJobsStorage: '', AzureWebJobsStorage__tableServiceUri: uri, AzureWebJobsStorage__queueServiceUri: 'https://acct.queue.core.windows.net' });
    const cases = [
      { ARM_ENDPOINT: 'https://u:hunter2@management.azure.com/?sig=abc#frag' },
      { ARM_ENDPOINT: 'https://user:p@hunter2@management.azure.com' },
      { ARM_ENDPOINT: 'https:user:hunter2@management.azure.com' },
      { ARM_ENDPOINT: 'https:\\\\user:hunter2@management.azure.com' },
      { ARM_ENDPOINT: 'https://u:pa/hunter2@management.azure.com' },
      storage('DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=hunter2=='),
      storage('https://acct.table.core.windows.net/sv=2024&sig=hunter2'),
      // The URL parser lets ';', '&' and '=' into a host: a connection string or SAS pasted after the host.
      storage('https://acct.table.core.windows.net;AccountKey=Hunter2==/x'),
      storage('https://acct.table.core.windows.net&sig=hunter2?'),
      storage('https://acct.table.core.windows.net;SharedAccessSignature=sv=2024&sig=hunter2'),
    ];
    for (const env of cases) {
      const found = problems(env).join(' | ');
      assert.match(found, /must be an https:\/\//, `${JSON.stringify(env)} is refused`);
      assert.doesNotMatch(found, /hunter2|sig=abc|frag/i, JSON.stringify(env));
    }
  });
  it('reports every bad setting at once', () => {
    const found = problems({ SWEEP_MODE: 'x', NEAR_EXPIRY_DAYS: 'y' });
    for (const setting of ['SWEEP_MODE', 'NEAR_EXPIRY_DAYS']) assert.ok(found.some((p) => p.startsWith(setting)), `${setting} in: ${found.join(' | ')}`);
  });
  it('local.settings.sample.json carries every setting the code reads, each of them valid', () => {
    const sample = JSON.parse(readFileSync(join(projectRoot(), 'local.settings.sample.json'), 'utf8')) as { Values: Record<string, string> };
    for (const name of SETTINGS) assert.ok(name in sample.Values, `${name} missing from local.settings.sample.json`);
    assert.equal(loadConfig(sample.Values).sweepMode, sample.Values.SWEEP_MODE);
  });
  it('host.json queue settings match what the worker assumes', () => {
    const host = JSON.parse(readFileSync(join(projectRoot(), 'host.json'), 'utf8')) as { extensions: { queues: Record<string, unknown> } };
    for (const [k, v] of Object.entries(QUEUE_SETTINGS)) assert.equal(host.extensions.queues[k], v, k);
  });
});
