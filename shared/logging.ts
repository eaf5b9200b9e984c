import type { InvocationContext } from '@azure/functions';
import type { LogFields, Logger } from './ports';

/** Logs through the invocation, with the job, account and versions as structured fields. */
export function invocationLogger(context: InvocationContext): Logger {
  return {
    info: (message, fields) => context.log(message, clean(fields)),
    warn: (message, fields) => context.warn(message, clean(fields)),
    error: (message, fields) => context.error(message, clean(fields)),
  };
}

function clean(fields: LogFields | undefined): LogFields {
  return Object.fromEntries(Object.entries(fields ?? {}).filter(([, v]) => v !== undefined));
}
