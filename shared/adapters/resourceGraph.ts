import type { QueryResponse, ResourceGraphClient, ResourceGraphClientOptionalParams } from '@azure/arm-resourcegraph';
import type { TokenCredential } from '@azure/identity';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccountState } from '../domain/model';
import { DependencyError } from '../errors';
import { toDependencyError } from './azureErrors';
import { vaultHost } from '../domain/keys';
import type { AccountSource } from '../ports';
import { toAccountState } from './cognitiveServices';
import { confined } from './sameOrigin';
import { armClientOptions, sdk } from './sdk';

interface ResourceGraphOptions {
  credential: TokenCredential;
  /** ARM_ENDPOINT: Resource Graph answers on the same endpoint. */
  endpoint: string;
  subscriptionIds: readonly string[];
  managementGroupIds: readonly string[];
  /** Rows per page (the service allows at most 1000). */
  pageSize?: number;
  clientOptions?: ResourceGraphClientOptionalParams;
}

const ACCOUNTS = "resources | where type =~ 'microsoft.cognitiveservices/accounts'";
const CMK = "| where tostring(properties.encryption.keySource) =~ 'Microsoft.KeyVault'";
// Only what the domain reads of an account: a real account's properties (endpoints, capabilities) are several KB.
const COLUMNS = '| project id, name, type, kind, location, tags, identity, provisioningState = tostring(properties.provisioningState), encryption = properties.encryption | order by id asc';

/** Tries of one query whose 429s say when the quota resets (other callers of the same identity spend it too). */
const QUOTA_ATTEMPTS = 3;

/** A row as COLUMNS projects it. */
type ProjectedRow = Record<string, unknown> & { provisioningState?: string; encryption?: object };

/** KQL string literal. */
const kql = (value: string): string => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * Accounts through Azure Resource Graph: one query across SUBSCRIPTION_IDS (and MANAGEMENT_GROUP_IDS),
 * filtered by the service (key source, vault host, key name), paged by $skipToken, within the per-user
 * quota. Resource Graph lags behind ARM, so what it finds is re-read through ARM before anything acts on it.
 * It indexes accounts, not their encryption scopes (ScopedDiscovery adds those).
 */
export class ResourceGraphAccounts implements AccountSource {
  private client: Promise<ResourceGraphClient> | undefined;
  /** When the quota window of the last answer resets, if it was spent. */
  private quotaResetsAt = 0;
  queries = 0;

  constructor(private readonly options: ResourceGraphOptions) {}

  boundTo(key: { vaultUri: string; keyName: string }): AsyncIterable<AccountState[]> {
    // keyVaultUri is written with or without a trailing slash, and sometimes with the default port.
    const host = vaultHost(key.vaultUri);
    const uris = [`https://${host}`, `https://${host}/`, ...(host.includes(':') ? [] : [`https://${host}:443`, `https://${host}:443/`])];
    const query = `${ACCOUNTS} ${CMK} | where tolower(tostring(properties.encryption.keyVaultProperties.keyVaultUri)) in~ (${uris.map(kql).join(', ')})`
      + ` | where tostring(properties.encryption.keyVaultProperties.keyName) =~ ${kql(key.keyName)} ${COLUMNS}`;
    return this.pages(query);
  }

  cmkAccounts(): AsyncIterable<AccountState[]> {
    return this.pages(`${ACCOUNTS} ${CMK} ${COLUMNS}`);
  }

  allAccounts(): AsyncIterable<AccountState[]> {
    return this.pages(`${ACCOUNTS} ${COLUMNS}`);
  }

  private async *pages(query: string): AsyncIterable<AccountState[]> {
    const scopes = [
      ...(this.options.managementGroupIds.length ? [{ managementGroups: [...this.options.managementGroupIds] }] : []),
      ...(this.options.subscriptionIds.length ? [{ subscriptions: [...this.options.subscriptionIds] }] : []),
    ];
    // An account under a listed management group and a listed subscription is found once.
    const seen = scopes.length > 1 ? new Set<string>() : undefined;
    for (const scope of scopes) {
      let skipToken: string | undefined;
      do {
        const page = await this.page({ ...scope, query, options: { top: this.options.pageSize ?? 1000, resultFormat: 'objectArray', ...(skipToken ? { skipToken } : {}) } });
        skipToken = page.skipToken;
        yield seen ? page.accounts.filter((a) => !seen.has(a.id.toLowerCase()) && seen.add(a.id.toLowerCase())) : page.accounts;
      } while (skipToken);
    }
  }

  /** One page as accounts: the answer's rows are not kept while the caller works on the page. */
  private async page(request: Parameters<ResourceGraphClient['resources']>[0]): Promise<{ accounts: AccountState[]; skipToken?: string }> {
    const answer = await this.query(request);
    // Cut short with no way to the rest (paging disabled or impossible): a list taken as complete would miss accounts.
    if (String(answer.resultTruncated) === 'true' && !answer.skipToken) {
      throw new DependencyError('resource-graph-truncated',
        `Resource Graph answered ${answer.count} of ${answer.totalRecords} rows, cut short and with no $skipToken for the rest`,
        { retryable: false, notApplied: true, dependency: 'resource-graph' });
    }
    const accounts = (Array.isArray(answer.data) ? answer.data as ProjectedRow[] : [])
      .map(({ provisioningState, encryption, ...row }) => toAccountState({ ...row, properties: { ...(provisioningState ? { provisioningState } : {}), ...(encryption ? { encryption } : {}) } } as object))
      .filter((a): a is AccountState => !!a);
    return { accounts, ...(answer.skipToken ? { skipToken: answer.skipToken } : {}) };
  }

  /** One query within the quota: a 429 the SDK did not retry (it retries only with Retry-After) waits for the quota to reset. */
  private async query(request: Parameters<ResourceGraphClient['resources']>[0]): Promise<QueryResponse> {
    for (let attempt = 1; ; attempt++) {
      const wait = this.quotaResetsAt - Date.now();
      if (wait > 0) await sleep(wait);
      try {
        return await this.ask(request);
      } catch (error) {
        const quotaSpent = error instanceof DependencyError && error.statusCode === 429 && this.quotaResetsAt > Date.now();
        if (!quotaSpent || attempt >= QUOTA_ATTEMPTS) throw error;
      }
    }
  }

  private async ask(request: Parameters<ResourceGraphClient['resources']>[0]): Promise<QueryResponse> {
    const client = await this.graph();
    this.queries += 1;
    let limitHit = false;
    let answer: QueryResponse;
    try {
      answer = await client.resources(request, {
        onResponse: (response) => {
          const remaining = Number(response.headers.get('x-ms-user-quota-remaining'));
          const resets = timespanMs(response.headers.get('x-ms-user-quota-resets-after'));
          this.quotaResetsAt = remaining === 0 && resets !== undefined ? Date.now() + resets : 0;
          limitHit = response.headers.get('x-ms-tenant-subscription-limit-hit')?.toLowerCase() === 'true';
        },
      });
    } catch (error) {
      throw toDependencyError(error, 'querying Resource Graph', 'resource-graph');
    }
    // A scope of more than 10,000 subscriptions is searched in its first 10,000 only: the rest would go unseen.
    if (limitHit) {
      throw new DependencyError('resource-graph-subscription-limit',
        'Resource Graph searched only part of a management group\'s subscriptions (x-ms-tenant-subscription-limit-hit); name fewer or smaller groups in MANAGEMENT_GROUP_IDS',
        { retryable: false, notApplied: true, dependency: 'resource-graph' });
    }
    return answer;
  }

  private graph(): Promise<ResourceGraphClient> {
    this.client ??= sdk.resourceGraph().then(({ ResourceGraphClient }) =>
      confined(new ResourceGraphClient(this.options.credential, { ...this.options.clientOptions, ...armClientOptions(this.options.endpoint) }), this.options.endpoint, 'resource-graph'));
    return this.client;
  }
}

/** hh:mm:ss (the quota header's format) in milliseconds. */
function timespanMs(value: string | undefined): number | undefined {
  const m = /^(\d+):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(value ?? '');
  if (!m) return undefined;
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(`0.${m[4] ?? '0'}`) * 1000;
}
