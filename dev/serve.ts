import { cliEnvironment, writeCaFile } from './cliEnvironment';
import { seedDevEstate } from './estate';
import { LOCAL_SUBSCRIPTION, startLocalStack } from './stack';

// npm run dev: the local stack with the demo estate, kept running for the CLI and curl until Ctrl-C.
const out = (line = ''): void => void process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 7071);
  const stack = await startLocalStack({
    port,
    ...(process.env.LOCAL_FUNCTION_KEY ? { functionKey: process.env.LOCAL_FUNCTION_KEY } : {}),
    onLog: (e) => out(`[${e.functionName}] ${e.level}: ${e.message}${!e.event && Object.keys(e.fields).length ? ` ${JSON.stringify(e.fields)}` : ''}`),
  });
  const ca = writeCaFile(stack);
  const vault = await stack.addVault({ name: 'kv-cmk-demo' });
  const estate = await seedDevEstate(vault, stack.arm);
  const account = estate.bound[0] ?? '';
  const key = stack.host.functionKey;
  out(`cmk-rotator local stack on ${stack.host.url}`);
  out(`  function key: ${process.env.LOCAL_FUNCTION_KEY ? '(from LOCAL_FUNCTION_KEY)' : key}`);
  out(`  vault ${vault.vaultUri} (keys cmk, billing-cmk, legacy-cmk, drift-cmk), ARM ${stack.arm.url}, Azurite ${stack.azurite.tableUrl}`);
  out(`  accounts bound to cmk: ${estate.bound.join(', ')}`);
  out(`  subscription: ${LOCAL_SUBSCRIPTION}`);
  out('');
  out('Point the CLI at this stack (paste into another shell):');
  for (const [name, value] of Object.entries(cliEnvironment(stack, ca.file))) out(`  export ${name}='${value}'`);
  out('Then:');
  out(`  npx cmk-rotator audit --subscription ${LOCAL_SUBSCRIPTION} --fail-on critical`);
  out(`  npx cmk-rotator rotate --key ${vault.vaultUri}cmk --rotate-key --wait`);
  out(`  npx cmk-rotator history ${account}`);
  out('');
  out('Or curl:');
  out(`  curl -s -X POST "${stack.host.url}/api/rotations" -H "x-functions-key: ${key}" -H "Content-Type: application/json" -d '{"vaultUri":"${vault.vaultUri}","keyName":"cmk","rotateKey":true}'`);
  out(`  curl -s "${stack.host.url}/api/rotations?accountId=${encodeURIComponent(account)}&limit=5" -H "x-functions-key: ${key}"`);
  out('Ctrl-C stops everything.');

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  ca.remove();
  await stack.stop();
}

main().catch((error: unknown) => {
  process.stderr.write(`dev stack failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
