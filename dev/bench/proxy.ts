import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** An HTTP hop in front of Azurite that counts the requests through it and adds the latency of a remote call. */
export interface CountingProxy {
  /** http://127.0.0.1:<port> */
  origin: string;
  /** Requests forwarded so far. */
  readonly count: number;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string, latencyMs: number): Promise<CountingProxy> {
  const to = new URL(target);
  let count = 0;
  const server: Server = createServer((req, res) => {
    count += 1;
    void delay(latencyMs).then(() => {
      const forward = request(
        { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', () => res.destroy());
      req.pipe(forward);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get count() {
      return count;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
