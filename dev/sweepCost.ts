import { accountResource, vaultResource } from './estate';
import { out, table } from './print';
import { startLocalStack } from './stack';

// npm run sweep-cost: Key Vault and ARM calls (and time) of one sweep as accounts grow over a fixed set of keys.
async function main(): Promise<void> {
  const keysCount = Number(process.env.KEYS ?? 5);
  const sizes = (process.env.ACCOUNTS ?? '10,100,500').split(',').map(Number);
  const stack = await startLocalStack();
  try {
    const vault = await stack.addVault({ name: 'kv-cost' });
    stack.arm.putVault(vaultResource(vault));
    const keys: Array<{ name: string; version: string }> = [];
    for (let k = 0; k < keysCount; k++) keys.push({ name: `key-${k}`, version: (await vault.createKey(`key-${k}`, { publish: false })).version });
    let seeded = 0;
    const seedTo = (total: number) => {
      for (; seeded < total; seeded++) {
        const key = keys[seeded % keys.length] ?? { name: '', version: '' };
        stack.arm.putAccount(accountResource({ name: `aoai-${seeded}`, key: { vaultUri: vault.vaultUri, name: key.name, version: key.version } }));
      }
    };
    const sweep = async () => {
      const kv = vault.requests.length;
      const arm = stack.arm.requests.length;
      const started = Date.now();
      await stack.host.runTimer('complianceSweep');
      return { kv: vault.requests.length - kv, arm: stack.arm.requests.length - arm, ms: Date.now() - started };
    };
    seedTo(sizes[0] ?? 1);
    await sweep(); // warms the clients (Key Vault's first call is its 401 challenge)
    const rows = [['accounts (N)', 'keys (K)', 'Key Vault calls', 'ARM calls', 'ms']];
    for (const n of sizes) {
      seedTo(n);
      const r = await sweep();
      rows.push([String(n), String(keysCount), String(r.kv), String(r.arm), String(r.ms)]);
    }
    out('One compliance sweep on the local stack (ARM list pages hold 100 accounts):');
    table(rows);
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
