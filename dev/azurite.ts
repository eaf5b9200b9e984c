import { spawn, type ChildProcess } from 'node:child_process';

// Azurite's published well-known development account (not a secret).
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface RunningAzurite {
  connectionString: string;
  queueUrl: string;
  tableUrl: string;
  stop(): Promise<void>;
}

/** Starts Azurite (Queues + Tables) in memory on free loopback ports, as a child process that dies with us. */
export async function startAzurite(): Promise<RunningAzurite> {
  const child = spawn(
    process.execPath,
    [
      require.resolve('azurite/dist/src/azurite.js'),
      '--inMemoryPersistence', '--silent', '--disableTelemetry', '--skipApiVersionCheck', '--loose',
      '--blobHost', '127.0.0.1', '--blobPort', '0',
      '--queueHost', '127.0.0.1', '--queuePort', '0',
      '--tableHost', '127.0.0.1', '--tablePort', '0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const urls = await new Promise<{ queue: string; table: string }>((resolve, reject) => {
    let out = '';
    const found: Record<string, string> = {};
    const timer = setTimeout(() => reject(new Error(`Azurite did not start within 30 s:\n${out}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`Azurite exited with code ${code}:\n${out}`)));
    child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      for (const m of out.matchAll(/Azurite (Queue|Table) service is successfully listening at (http:\/\/\S+)/g)) {
        if (m[1] && m[2]) found[m[1].toLowerCase()] = m[2];
      }
      if (found.queue && found.table) {
        clearTimeout(timer);
        resolve({ queue: found.queue, table: found.table });
      }
    });
  });
  child.removeAllListeners('exit');

  const queueUrl = `${urls.queue}/${ACCOUNT}`;
  const tableUrl = `${urls.table}/${ACCOUNT}`;
  return {
    queueUrl,
    tableUrl,
    connectionString: azuriteConnectionString(queueUrl, tableUrl),
    stop: () => stopChild(child, killOnExit),
  };
}

/** A connection string for Azurite's account at these Queue and Table endpoints (e.g. through a proxy). */
export function azuriteConnectionString(queueUrl: string, tableUrl: string): string {
  return `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};QueueEndpoint=${queueUrl};TableEndpoint=${tableUrl};`;
}

/** The account path Azurite serves under each endpoint. */
export const AZURITE_ACCOUNT = ACCOUNT;

async function stopChild(child: ChildProcess, killOnExit: () => void): Promise<void> {
  process.removeListener('exit', killOnExit);
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  }
}
