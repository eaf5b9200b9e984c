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

  async get<T>(path: string): Promise<T> {
    return this.send<T>('GET', path);
  }

  async send<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await this.http(`${this.base}${path}`, {
        method,
        headers: { 'x-functions-key': this.key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new CliError(`cannot reach ${this.base}: ${(error as Error).message}`, EXIT.incomplete);
    }
    const text = await response.text();
    const parsed = text ? safeJson(text) : undefined;
    if (response.ok) return parsed as T;
    const problem = (parsed ?? {}) as { code?: string; title?: string; detail?: string; errors?: Array<{ field: string; message: string }> };
    const fields = problem.errors?.map((e) => `${e.field}: ${e.message}`).join('; ');
    const what = [problem.code ?? `HTTP ${response.status}`, problem.detail ?? problem.title ?? text.slice(0, 200), fields].filter(Boolean).join(': ');
    if (response.status === 401) throw new CliError(`the app refused the function key (401); check ${CLI_ENV.functionKey}`);
    throw new ApiError(`${method} ${path}: ${what}`, response.status, problem.code ?? `http-${response.status}`);
  }
}

/** The API answered with a problem: a refused request (4xx) is a usage error; throttling and server trouble are incomplete. */
export class ApiError extends CliError {
  constructor(message: string, readonly status: number, readonly code: string) {
    super(message, status >= 500 || status === 429 ? EXIT.incomplete : EXIT.usage);
    this.name = 'ApiError';
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200) };
  }
}
