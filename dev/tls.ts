import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { Agent, createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { generate } from 'selfsigned';

interface TlsMaterial {
  key: string;
  cert: string;
}

let material: Promise<TlsMaterial> | undefined;

/**
 * A self-signed certificate for 127.0.0.1 / localhost, made once per process: the ARM and
 * Key Vault SDKs refuse bearer tokens over plain http, so the stand-ins must speak HTTPS.
 */
function selfSignedCertificate(): Promise<TlsMaterial> {
  material ??= (async () => {
    const notBeforeDate = new Date(Date.now() - 60_000);
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate,
      notAfterDate: new Date(notBeforeDate.getTime() + 2 * 86_400_000),
      extensions: [
        { name: 'basicConstraints', cA: false },
        // *.managedhsm.localhost: a stand-in serving a Managed HSM host name (see loopbackAgent).
        { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }, { type: 2, value: '*.managedhsm.localhost' }] },
      ],
    });
    return { key: pems.private, cert: pems.cert };
  })();
  return material;
}

/** The PEM that clients of the local stand-ins trust (their certificate is its own CA). */
export async function localCa(): Promise<string> {
  return (await selfSignedCertificate()).cert;
}

interface RunningServer {
  /** Base URL with a trailing slash, e.g. https://127.0.0.1:40123/ */
  url: string;
  port: number;
  /** The PEM a client must trust to reach it. */
  ca: string;
  close(): Promise<void>;
}

/** Starts an HTTPS server on a free loopback port with the shared self-signed certificate. */
export async function listenHttps(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<RunningServer> {
  const tls = await selfSignedCertificate();
  const server: Server = createServer(tls, handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/`,
    port,
    ca: tls.cert,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** Names under .localhost are loopback (RFC 6761 §6.3), whatever the resolver says; everything else resolves as usual. */
function loopbackLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  if (!hostname.toLowerCase().endsWith('.localhost')) {
    (dnsLookup as (host: string, o: LookupOptions, cb: LookupCallback) => void)(hostname, options, callback);
    return;
  }
  if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
}

/**
 * The agent local clients of the Key Vault stand-ins use: it trusts their certificate and reaches a stand-in that
 * serves a Managed HSM host name (`<name>.managedhsm.localhost`), which this machine's resolver may not know.
 */
export function loopbackAgent(ca: string): Agent {
  return new Agent({ keepAlive: true, ca, lookup: loopbackLookup as never });
}
