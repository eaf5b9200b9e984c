import {
  app,
  type EventGridFunctionOptions,
  type HttpFunctionOptions,
  type StorageQueueFunctionOptions,
  type TimerFunctionOptions,
} from '@azure/functions';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** What the function modules registered, captured the way the Functions host would index them. */
interface Registrations {
  http: Map<string, HttpFunctionOptions>;
  eventGrid: Map<string, EventGridFunctionOptions>;
  storageQueue: Map<string, StorageQueueFunctionOptions>;
  timer: Map<string, TimerFunctionOptions>;
  /** app.hook.appStart handlers, run by the host once before any function. */
  appStart: Array<() => unknown>;
  /** app.hook.appTerminate handlers, run by the host when it shuts down gracefully. */
  appTerminate: Array<() => unknown>;
}

const registrations: Registrations = { http: new Map(), eventGrid: new Map(), storageQueue: new Map(), timer: new Map(), appStart: [], appTerminate: [] };
let loaded = false;

/**
 * Loads every module in functions/ (what package.json `main` points the host at) with app.*
 * captured, so the dev host serves exactly the functions, triggers and options they register.
 */
export function loadFunctions(): Registrations {
  if (loaded) return registrations;
  const register = app as unknown as Record<string, unknown>;
  register.http = (name: string, options: HttpFunctionOptions) => void registrations.http.set(name, options);
  register.eventGrid = (name: string, options: EventGridFunctionOptions) => void registrations.eventGrid.set(name, options);
  register.storageQueue = (name: string, options: StorageQueueFunctionOptions) => void registrations.storageQueue.set(name, options);
  register.timer = (name: string, options: TimerFunctionOptions) => void registrations.timer.set(name, options);
  const hooks = app.hook as unknown as Record<string, unknown>;
  for (const hook of ['appStart', 'appTerminate'] as const) {
    hooks[hook] = (handler: () => unknown) => {
      registrations[hook].push(handler);
      return { dispose: () => undefined };
    };
  }
  const dir = join(__dirname, '..', 'functions');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.js')).sort()) {
    // A module loaded before the capture registered nothing; load it again now.
    const path = require.resolve(join(dir, file));
    delete require.cache[path];
    // The host loads the compiled files named by package.json main the same way: by path, at run time.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(path);
  }
  loaded = true;
  return registrations;
}
