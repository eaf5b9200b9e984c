// Injected faults for the stand-ins: the first matching rule answers instead of the service.

export interface FaultRule {
  /** HTTP method to match (any when absent). */
  method?: string;
  /** Tested against the request path without the query string (any when absent). */
  path?: RegExp;
  /** Answer with this status and the service's error body (500 when neither status nor reset is given). */
  status?: number;
  code?: string;
  /** Destroy the socket instead of answering. */
  reset?: boolean;
  /** How many matching requests the rule hits before it is used up (default 1; Infinity for a standing rule). */
  times?: number;
  /** Matching requests let through before the rule starts hitting (default 0): "fail half-way". */
  after?: number;
  /** Only this share of matching requests is hit (default 1), drawn from the stand-in's random source. */
  probability?: number;
  retryAfterMs?: number;
  /**
   * The service handles the request first (what it changes stays changed), then the fault answers instead: an
   * answer lost after the commit, which a client cannot tell from a request that never arrived. Key Vault stand-in only.
   */
  afterService?: boolean;
}

type Fault = ({ reset: true } | { reset: false; status: number; code: string; retryAfterMs?: number }) & { afterService?: boolean };

const defaultCodes: Record<number, string> = {
  400: 'BadRequest',
  401: 'AuthenticationFailed',
  403: 'AuthorizationFailed',
  404: 'ResourceNotFound',
  408: 'RequestTimeout',
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
  /** How many requests each fault kind answered, e.g. "429", "reset". */
  readonly hits = new Map<string, number>();

  constructor(private readonly random: () => number = Math.random) {}

  clear(): void {
    this.active.length = 0;
  }

  add(rule: FaultRule): void {
    this.active.push({ rule, left: rule.times ?? 1, pass: rule.after ?? 0 });
  }

  /** The fault that answers this request: the first matching rule that hits (a rule's probability may let it pass to the next). */
  hit(method: string, path: string): Fault | undefined {
    for (let index = 0; index < this.active.length; index++) {
      const fault = this.active[index] as ActiveFault;
      const { rule } = fault;
      if ((rule.method !== undefined && rule.method.toUpperCase() !== method) || (rule.path !== undefined && !matches(rule.path, path))) continue;
      if (fault.pass > 0) {
        fault.pass -= 1;
        return undefined;
      }
      if (rule.probability !== undefined && this.random() >= rule.probability) continue;
      fault.left -= 1;
      if (fault.left <= 0) this.active.splice(index, 1);
      const kind = rule.reset ? 'reset' : String(rule.status ?? 500);
      this.hits.set(kind, (this.hits.get(kind) ?? 0) + 1);
      const after = rule.afterService ? { afterService: true } : {};
      if (rule.reset) return { reset: true, ...after };
      const status = rule.status ?? 500;
      return {
        ...after,
        reset: false,
        status,
        code: rule.code ?? defaultCodes[status] ?? 'InjectedFault',
        ...(rule.retryAfterMs !== undefined ? { retryAfterMs: rule.retryAfterMs } : {}),
      };
    }
    return undefined;
  }
}

function matches(pattern: RegExp, path: string): boolean {
  // A global or sticky RegExp keeps lastIndex between calls; reset so every request is tested alike.
  pattern.lastIndex = 0;
  return pattern.test(path);
}

/** A seeded pseudo-random source (mulberry32), so a chaos run can be repeated. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
