import { createHash } from 'node:crypto';
import { evaluate, InvalidQuery } from './graphQuery';
import { isJsonObject, parseJsonBody, type Exchange, type JsonObject } from './http';
import { subscriptionOf } from './paths';

/** What Resource Graph indexes: ARM's accounts as a GET shows them (shared, only read) and any seeded resource. */
export interface ResourceSnapshot {
  /** Changes whenever any resource does. */
  version: string;
  accounts: readonly JsonObject[];
  others: JsonObject[];
}

interface ResourceGraphOptions {
  /** Queries each caller may run per window (the documented quota is about 15 per 5 s per user). */
  quota: number;
  windowMs: number;
  /** Resource Graph lags behind ARM: its index is refreshed at most this often (0: always current). */
  lagMs: number;
  /** Management group id -> the subscriptions under it. */
  managementGroups: Record<string, string[]>;
  /**
   * False: the service does not page (as when paging is disabled for the caller); an answer is its first $top rows,
   * resultTruncated and no $skipToken, as for a query that limits or takes rows.
   */
  paging: boolean;
  /** Whether a 429 carries Retry-After besides the quota headers, which every answer carries. */
  retryAfter: boolean;
  /** Subscriptions a management-group query may span: past it the service searches the first ones and says so in a header. */
  subscriptionLimit: number;
  now: () => number;
}

/**
 * POST /providers/Microsoft.ResourceGraph/resources, as the recorded service answers: the query evaluated
 * over the resources the stand-in holds (accounts as ARM has them, plus any seeded resource), scoped to the
 * request's subscriptions or management groups, paged by an opaque $skipToken ($top at most 1000), with the
 * per-user quota headers and 429 once the quota is spent.
 */
export class ResourceGraph {
  private index: { at: number; source: ResourceSnapshot['accounts']; version: string; rows: JsonObject[] } | undefined;
  /** The last query's result over the current index: the same query over the same rows answers the same. */
  private lastResult: { rows: JsonObject[]; query: string; scope: string; over: JsonObject[] } | undefined;
  private window = { start: 0, used: 0 };
  private readonly cursors = new Map<number, JsonObject[]>();
  /** Each result row's JSON: rows are only read, and a result is kept while the index does not change. */
  private readonly rowTexts = new WeakMap<JsonObject, string>();
  private nextCursor = 0;
  queries = 0;

  constructor(
    private readonly options: ResourceGraphOptions,
    private readonly resources: () => ResourceSnapshot,
  ) {}

  answer(exchange: Exchange): void {
    const now = this.options.now();
    if (now - this.window.start >= this.options.windowMs) this.window = { start: now, used: 0 };
    const resetsAfter = this.options.windowMs - (now - this.window.start);
    const quotaHeaders = (remaining: number) => ({
      'x-ms-user-quota-remaining': String(Math.max(0, remaining)),
      'x-ms-user-quota-resets-after': timespan(resetsAfter),
    });
    if (this.window.used >= this.options.quota) {
      exchange.error(429, 'RateLimiting', 'Please provide below info when asking for support: the client has exceeded its quota of queries.', {
        ...quotaHeaders(0),
        ...(this.options.retryAfter ? { 'Retry-After': String(Math.max(1, Math.ceil(resetsAfter / 1000))), 'retry-after-ms': String(Math.max(1, resetsAfter)) } : {}),
      });
      return;
    }
    this.window.used += 1;
    this.queries += 1;
    const remaining = quotaHeaders(this.options.quota - this.window.used);
    const body = parseJsonBody(exchange.body);
    if (!isJsonObject(body) || typeof body['query'] !== 'string') {
      exchange.error(400, 'BadRequest', "The request body must carry a 'query' string.", remaining);
      return;
    }
    const scope = this.scope(body);
    if ('problem' in scope) return exchange.error(400, 'BadRequest', scope.problem, remaining);
    // Past the limit a management group's subscriptions are searched in part, and the header says so.
    if (Array.isArray(body['managementGroups']) && scope.subscriptions.size > this.options.subscriptionLimit) {
      scope.subscriptions = new Set([...scope.subscriptions].slice(0, this.options.subscriptionLimit));
      Object.assign(remaining, { 'x-ms-tenant-subscription-limit-hit': 'true' });
    }
    const options = isJsonObject(body['options']) ? body['options'] : {};
    const digest = createHash('sha256').update(body['query']).digest('hex').slice(0, 12);
    const token = this.token(options, digest);
    if (token === undefined) return exchange.error(400, 'BadRequest', 'The $skipToken is not valid for this query.', remaining);
    // A next page keeps the page size of the first unless the request names one.
    const top = options['$top'] ?? token.top ?? 1000;
    if (typeof top !== 'number' || !Number.isInteger(top) || top < 1 || top > 1000) {
      return exchange.error(400, 'BadRequest', "'$top' must be a whole number from 1 to 1000.", remaining);
    }
    // A next page reads the result its first page computed, as a server-side cursor would.
    let rows = token.cursor === undefined ? undefined : this.cursors.get(token.cursor);
    if (!rows) {
      try {
        rows = this.evaluate(body['query'], scope.subscriptions);
      } catch (error) {
        if (!(error instanceof InvalidQuery)) throw error;
        return exchange.json(400, { error: { code: 'InvalidQuery', message: `Query is invalid: ${error.message}` } }, remaining);
      }
    }
    const start = token.start;
    const page = rows.slice(start, start + top);
    if (token.cursor !== undefined) this.cursors.delete(token.cursor);
    const more = start + top < rows.length;
    // A query that limits or takes rows cannot be paged: the service says its answer is cut short instead.
    const pages = this.options.paging && !/\|\s*(?:limit|take)\b/i.test(body['query']);
    const next = !more ? { resultTruncated: 'false' }
      : pages ? { resultTruncated: 'false', $skipToken: Buffer.from(JSON.stringify({ o: start + top, t: top, q: digest, c: this.remember(rows) })).toString('base64') }
        : { resultTruncated: 'true' };
    // The answer's members in the service's order, its rows serialised once per result (a sweep pages the same rows again).
    const head = JSON.stringify({ totalRecords: rows.length, count: page.length }).slice(0, -1);
    const tail = JSON.stringify({ facets: [], ...next }).slice(1);
    exchange.jsonText(200, `${head},"data":[${page.map((row) => this.text(row)).join(',')}],${tail}`, remaining);
  }

  private text(row: JsonObject): string {
    let text = this.rowTexts.get(row);
    if (text === undefined) {
      text = JSON.stringify(row);
      this.rowTexts.set(row, text);
    }
    return text;
  }

  /** Where a page starts and the page size it carries: $skipToken (opaque, bound to its query) wins over $skip. */
  private token(options: JsonObject, digest: string): { start: number; top?: number; cursor?: number } | undefined {
    const token = options['$skipToken'];
    if (typeof token === 'string') {
      try {
        const parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { o?: unknown; t?: unknown; q?: unknown; c?: unknown };
        if (typeof parsed.o !== 'number' || parsed.q !== digest) return undefined;
        return { start: parsed.o, ...(typeof parsed.t === 'number' ? { top: parsed.t } : {}), ...(typeof parsed.c === 'number' ? { cursor: parsed.c } : {}) };
      } catch {
        return undefined;
      }
    }
    const skip = options['$skip'] ?? 0;
    return typeof skip === 'number' && Number.isInteger(skip) && skip >= 0 ? { start: skip } : undefined;
  }

  private scope(body: JsonObject): { subscriptions: Set<string> } | { problem: string } {
    const subscriptions = Array.isArray(body['subscriptions']) ? body['subscriptions'].map((s) => String(s).toLowerCase()) : [];
    const groups = Array.isArray(body['managementGroups']) ? body['managementGroups'].map(String) : [];
    for (const group of groups) {
      const members = this.options.managementGroups[group];
      if (!members) return { problem: `The management group '${group}' was not found or is not accessible.` };
      subscriptions.push(...members.map((s) => s.toLowerCase()));
    }
    if (!subscriptions.length) return { problem: 'The request names no subscriptions or management groups.' };
    return { subscriptions: new Set(subscriptions) };
  }

  /** Keeps a result for its next pages; the oldest of more than 64 open results is dropped (its token then re-evaluates). */
  private remember(rows: JsonObject[]): number {
    const id = this.nextCursor++;
    this.cursors.set(id, rows);
    for (const old of this.cursors.keys()) {
      if (this.cursors.size <= 64) break;
      this.cursors.delete(old);
    }
    return id;
  }

  /** The query over the scope's rows; evaluated again only when the query, the scope or the index changed. */
  private evaluate(query: string, subscriptions: Set<string>): JsonObject[] {
    const table = this.table();
    const scope = [...subscriptions].sort().join(',');
    const last = this.lastResult;
    if (last && last.over === table && last.query === query && last.scope === scope) return last.rows;
    const rows = evaluate(query, table.filter((r) => subscriptions.has(String(r['subscriptionId']))));
    this.lastResult = { rows, query, scope, over: table };
    return rows;
  }

  /** The resources as Resource Graph shows them: type in lower case, and no fresher than its lag allows. */
  private table(): JsonObject[] {
    const now = this.options.now();
    if (!this.index || now - this.index.at >= this.options.lagMs) {
      const { version, accounts, others } = this.resources();
      // The same snapshot (nothing changed since) keeps the index, and with it the last result.
      if (this.index && this.index.source === accounts && this.index.version === version) {
        this.index.at = now;
      } else {
        const rows = [...accounts, ...others].map((r) => ({ ...r, type: String(r['type'] ?? '').toLowerCase(), subscriptionId: subscriptionOf(String(r['id'] ?? '')) }));
        this.index = { at: now, source: accounts, version, rows };
      }
    }
    return this.index.rows;
  }
}

/** A TimeSpan (hh:mm:ss[.fffffff]), as the quota header carries it. */
function timespan(ms: number): string {
  const total = Math.max(0, ms) / 1000;
  const s = Math.floor(total);
  const pad = (n: number) => String(n).padStart(2, '0');
  const fraction = total - s > 0 ? `.${String(Math.round((total - s) * 1e7)).padStart(7, '0')}` : '';
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}${fraction}`;
}
