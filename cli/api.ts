import { CLI_ENV } from './environment';
import { CliError, EXIT, type Io } from './io';

export interface AppFlags {
  app?: string;
}

/** A deployed app's HTTP API (DESIGN §6), with its function key. Problems become one-line errors with an exit code. */
export class AppClient {
  private readonly base: string;

  constructor(
    base: string,
    private readonly key: string,
    private readonly http: typeof fetch,
  ) {
    this.base = base.replace(/\/+$/, '');
  }

  static from(flags: AppFlags, io: Io): AppClient {
    const base = flags.app ?? io.env[CLI_ENV.app];
    if (!base) throw new CliError(`name the app: --app <url> or ${CLI_ENV.app} (e.g. https://func-cmk-abc123.azurewebsites.net)`);
    let url: URL;
    try {
      url = new URL(base);
    } catch {
      throw new CliError(`--app: "${base}" is not a URL`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))) {
      throw new CliError(`--app: ${base} must be https:// (plain http only for a local host)`);
    }
    const key = io.env[CLI_ENV.functionKey]?.trim();
    if (!key) throw new CliError(`set ${CLI_ENV.functionKey} to the app's function key (az functionapp keys list -g <group> -n <app>)`);
    return new AppClient(url.origin + url.pathname, key, io.fetch ?? fetch);
  }

  async get<T>(path: string, timeoutMs?: number): Promise<T> {
    return this.send<T>('GET', path, undefined, timeoutMs);
  }

  /**
   * One request, within `timeoutMs` (default: as long as Azure's front end keeps a request open). Redirects are not
   * followed: the function key goes to --app only, never to where an answer points (a sign-in page, another host).
   */
  async send<T>(method: string, path: string, body?: unknown, timeoutMs = FRONT_END_TIMEOUT_MS): Promise<T> {
    let response: Response;
    let text: string;
    const boundMs = Math.min(timeoutMs, FRONT_END_TIMEOUT_MS);
    try {
      response = await this.http(`${this.base}${path}`, {
        method,
        headers: { 'x-functions-key': this.key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        redirect: 'manual',
        signal: AbortSignal.timeout(boundMs),
      });
      text = await response.text();
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      throw new Unanswered(`${method} ${path}: ${timedOut ? `no answer from ${this.base} within ${Math.ceil(boundMs / 1000)} s` : `cannot reach ${this.base}: ${(error as Error).message}`}`, timedOut || dropped(error));
    }
    if (response.status >= 300 && response.status < 400) {
      const to = response.headers.get('location');
      throw new CliError(`${method} ${path}: the app answered ${response.status}${to ? ` (to ${originOf(to, this.base)})` : ''}, not followed: is --app the function app's own URL?`);
    }
    const parsed = text ? safeJson(text) : undefined;
    if (response.ok) {
      if (parsed === undefined || (typeof parsed === 'object' && parsed !== null && NOT_JSON in parsed)) {
        throw new CliError(`${method} ${path}: the app answered ${response.status} without JSON: is --app a cmk-rotator app?`, EXIT.incomplete);
      }
      return parsed as T;
    }
    const problem = (parsed ?? {}) as { code?: string; title?: string; detail?: string; errors?: Array<{ field: string; message: string }> };
    const detail = problem.detail ?? problem.title ?? text.slice(0, 200);
    // The detail of a bad request often is its fields already.
    const fields = problem.errors?.map((e) => `${e.field}: ${e.message}`).filter((f) => !detail.includes(f)).join('; ');
    const what = [problem.code ?? `HTTP ${response.status}`, detail, fields].filter(Boolean).join(': ');
    if (response.status === 401) throw new CliError(`the app refused the function key (401); check ${CLI_ENV.functionKey}`);
    const retryAfter = Number(response.headers.get('retry-after'));
    throw new ApiError(`${method} ${path}: ${what}`, response.status, problem.code ?? `http-${response.status}`, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
  }
}

/** Azure's front end ends a request it has waited 230 s for. */
const FRONT_END_TIMEOUT_MS = 230_000;

/**
 * The API answered with a problem: a refused request (4xx) is a usage error; throttling and server trouble are
 * incomplete; a key rotated with its jobs not all queued failed, since running the same command again rotates again.
 */
export class ApiError extends CliError {
  constructor(message: string, readonly status: number, readonly code: string, readonly retryAfterMs?: number) {
    super(message, code === 'rotated-not-queued' ? EXIT.failed : status >= 500 || status === 429 ? EXIT.incomplete : EXIT.usage);
    this.name = 'ApiError';
  }
}

/** The app could not be reached, or did not answer in time; `passing` when a later try may get through. */
export class Unanswered extends CliError {
  constructor(message: string, readonly passing: boolean) {
    super(message, EXIT.incomplete);
    this.name = 'Unanswered';
  }
}

/**
 * Network trouble that passes: a connection dropped (a restart, a scale-in), a resolver or route that is down for a
 * moment (EAI_AGAIN, a VPN or Wi-Fi reconnect). Not a name that does not exist, a refused connection or a certificate.
 */
const PASSING = new Set([
  'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
]);

function dropped(error: unknown): boolean {
  const code = String((error as { cause?: { code?: unknown } }).cause?.code ?? '');
  return PASSING.has(code);
}

/**
 * What a later poll may get past: the app's throttling or server trouble, no answer in time, a dropped connection.
 * An app that cannot be reached at all (a wrong --app, a certificate it does not trust) is reported at once.
 */
export function isTransient(error: unknown): error is CliError {
  return (error instanceof Unanswered && error.passing) || (error instanceof ApiError && (error.status === 429 || error.status >= 500));
}

/** The origin a redirect points to (relative to the app), never its path or query. */
function originOf(location: string, base: string): string {
  try {
    return new URL(location, base).origin;
  } catch {
    return 'somewhere unreadable';
  }
}

/** Marks an answer that was not JSON. */
const NOT_JSON = Symbol('not JSON');

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200), [NOT_JSON]: true };
  }
}
