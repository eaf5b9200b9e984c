import { InvocationContext } from '@azure/functions';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { LogHandler } from './invocations';
import { text } from 'node:stream/consumers';

export type EventGridHandler = (event: unknown, context: InvocationContext) => Promise<unknown>;

/**
 * The host's Event Grid endpoint, /runtime/webhooks/eventgrid?functionName=...: answers the
 * subscription handshake (both schemas) and hands each event of a batch to the function;
 * 202 when every event succeeded, 500 when any failed (Event Grid then re-sends the batch).
 */
export async function serveEventGrid(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  functions: Record<string, EventGridHandler>,
  logHandler: (functionName: string, invocationId: string) => LogHandler,
): Promise<void> {
  const functionName = url.searchParams.get('functionName') ?? '';
  const handler = functions[functionName];
  if (!handler) return reply(res, 404, { error: `no Event Grid function named "${functionName}"` });

  if (req.method === 'OPTIONS') {
    // CloudEvents abuse-protection handshake.
    res.setHeader('WebHook-Allowed-Origin', String(req.headers['webhook-request-origin'] ?? '*'));
    res.setHeader('WebHook-Allowed-Rate', '*');
    return reply(res, 200);
  }
  if (req.method !== 'POST') return reply(res, 405, { error: 'POST or OPTIONS only' });

  // As the Functions host's Event Grid extension reads it: aeg-event-type in any case (Event Grid sends it with both
  // schemas), the body parsed only for a handshake or a notification, Unsubscribe accepted with a 202, anything else 400.
  const kind = String(req.headers['aeg-event-type'] ?? '').toLowerCase();
  if (kind === 'unsubscribe') return reply(res, 202);
  if (kind !== 'subscriptionvalidation' && kind !== 'notification') return reply(res, 400, { error: `unsupported aeg-event-type "${String(req.headers['aeg-event-type'] ?? '')}"` });

  let body: unknown;
  try {
    body = JSON.parse(await text(req));
  } catch {
    // The extension's parse throws and the host answers 500: Event Grid delivers the batch again.
    return reply(res, 500, { error: 'body is not JSON' });
  }
  const events = Array.isArray(body) ? body : [body];

  if (kind === 'subscriptionvalidation') {
    const code = (events[0] as { data?: { validationCode?: string } } | undefined)?.data?.validationCode;
    return code ? reply(res, 200, { validationResponse: code }) : reply(res, 400, { error: 'no validationCode' });
  }

  const results = await Promise.allSettled(
    events.map((event) => {
      const invocationId = randomUUID();
      const context = new InvocationContext({ invocationId, functionName, logHandler: logHandler(functionName, invocationId) });
      return handler(event, context);
    }),
  );
  const failed = results.filter((r) => r.status === 'rejected').length;
  return failed ? reply(res, 500, { error: `${failed} of ${events.length} events failed` }) : reply(res, 202);
}

export function reply(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, body === undefined ? headers : { 'Content-Type': 'application/json', ...headers });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}
