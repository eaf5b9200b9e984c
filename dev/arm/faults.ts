import { retryAfterHeaders, type Exchange } from './http';

export interface FaultRule {
  /** HTTP method to match (any when absent). */
  method?: string;
  /** Tested against the request path without the query string (any when absent). */
  path?: RegExp;
  /** Answer with this status and an ARM error body (500 when neither status nor reset is given). */
  status?: number;
  code?: string;
  /** Destroy the socket instead of answering. */
  reset?: boolean;
  /** How many matching requests the rule hits before it is used up (default 1). */
  times?: number;
  /** Matching requests let through before the rule starts hitting (default 0): "fail half-way". */
  after?: number;
  retryAfterMs?: number;
}

const defaultCodes: Record<number, string> = {
  400: 'BadRequest',
  401: 'AuthenticationFailed',
  403: 'AuthorizationFailed',
  404: 'ResourceNotFound',
  409: 'Conflict',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

interface ActiveFault {
  rule: FaultRule;
  left: number;
  pass: number;
}

/** Injected faults, first matching rule wins, each used up after `times` hits. */
export class FaultInjector {
  private readonly active: ActiveFault[] = [];

  clear(): void {
    this.active.length = 0;
  }

  add(rule: FaultRule): void {
    this.active.push({ rule, left: rule.times ?? 1, pass: rule.after ?? 0 });
  }

  /** Answers the request with the first matching fault; false when none matched. */
  apply(exchange: Exchange): boolean {
    const path = exchange.url.pathname;
    const index = this.active.findIndex(
      ({ rule }) =>
        (rule.method === undefined || rule.method.toUpperCase() === exchange.method) &&
        (rule.path === undefined || matches(rule.path, path)),
    );
    const fault = this.active[index];
    if (!fault) return false;
    if (fault.pass > 0) {
      fault.pass -= 1;
      return false;
    }
    fault.left -= 1;
    if (fault.left <= 0) this.active.splice(index, 1);
    const { rule } = fault;
    if (rule.reset) {
      exchange.reset();
      return true;
    }
    const status = rule.status ?? 500;
    const code = rule.code ?? defaultCodes[status] ?? 'InjectedFault';
    const headers = rule.retryAfterMs === undefined ? {} : retryAfterHeaders(rule.retryAfterMs);
    exchange.error(status, code, `Injected fault ${code} (${status}) for ${exchange.method} ${path}.`, headers);
    return true;
  }
}

function matches(pattern: RegExp, path: string): boolean {
  // A global or sticky RegExp keeps lastIndex between calls; reset so every request is tested alike.
  pattern.lastIndex = 0;
  return pattern.test(path);
}
