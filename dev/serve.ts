import { seedDemoEstate } from './estate';
import { startLocalStack } from './stack';

// npm run dev: the local stack with the demo estate, kept running for curl until Ctrl-C.
const out = (line = ''): void => void process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 7071);
  const stack = await startLocalStack({
    port,
    ...(process.env.LOCAL_FUNCTION_KEY ? { functionKey: process.env.LOCAL_FUNCTION_KEY } : {}),
    onLog: (e) => out(`[${e.functionName}] ${e.level}: ${e.message} ${Object.keys(e.fields).length ? JSON.stringify(e.fields) : ''}`),
  });
  const vault = await stack.addVault({ name: 'kv-cmk-demo' });
  const estate = await seedDemoEstate(vault, stack.arm);
  const account = estate.bound[0] ?? '';
  const key = stack.host.functionKey;
  out(`cmk-rotator local stack on ${stack.host.url}`);
  out(`  function key: ${process.env.LOCAL_FUNCTION_KEY ? '(from LOCAL_FUNCTION_KEY)' : key}`);
  out(`  vault ${vault.vaultUri} (key cmk), ARM ${stack.arm.url}, Azurite ${stack.azurite.tableUrl}`);
  out(`  accounts bound to cmk: ${estate.bound.join(', ')}`);
  out('');
  out('Try:');
  out(`  curl -s -X POST "${stack.host.url}/api/rotations" -H "x-functions-key: ${key}" -H "Content-Type: application/json" -d '{"vaultUri":"${vault.vaultUri}","keyName":"cmk","rotateKey":true}'`);
  out(`  curl -s "${stack.host.url}/api/rotations?accountId=${encodeURIComponent(account)}&limit=5" -H "x-functions-key: ${key}"`);
  out(`  curl -s -X POST "${stack.host.url}/api/rotations" -H "x-functions-key: ${key}" -H "Content-Type: application/json" -d '{"accountId":"${account}","dryRun":true}'`);
  out('Ctrl-C stops everything.');

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await stack.stop();
}

main().catch((error: unknown) => {
  process.stderr.write(`dev stack failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
