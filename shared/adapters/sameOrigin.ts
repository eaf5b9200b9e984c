import type { Pipeline, PipelinePolicy } from '@azure/core-rest-pipeline';
import { DependencyError, type Dependency } from '../errors';

// The SDKs follow the URLs a service answers with (a list's nextLink, an operation's status URL) wherever they point,
// with the client's bearer token. Every client the adapters build carries this policy, so a request leaves only for
// the client's own endpoint: the vault for a KeyClient, ARM_ENDPOINT for the management and Resource Graph clients.

const SAME_ORIGIN_POLICY = 'cmkRotatorSameOrigin';

/** A refused request, raised inside the pipeline: it does not say what it was for until an adapter names that (toDependencyError). */
export class RefusedRequest extends DependencyError {}

/** scheme://host[:port] in lower case, the scheme's default port left out: https://H:443/x and https://h are one origin. */
export function originOf(url: string): string {
  const { protocol, host } = new URL(url);
  return `${protocol}//${host}`;
}

/**
 * Refuses a request to any origin but `endpoint`'s before it is sent. The refusal names the origin only (a nextLink's
 * query may carry a token) and is not retryable: the same link would be refused again.
 */
export function sameOriginPolicy(endpoint: string, dependency: Dependency): PipelinePolicy {
  const home = originOf(endpoint);
  return {
    name: SAME_ORIGIN_POLICY,
    sendRequest: async (request, next) => {
      const origin = originOf(request.url);
      if (origin !== home) {
        throw new RefusedRequest('untrusted-url', `refused to send a request to ${origin}: this client calls only ${home}`, { retryable: false, dependency });
      }
      return next(request);
    },
  };
}

/**
 * Installs the policy first in a client's pipeline (the Serialize phase runs before every other), so a refused
 * request gets no token from the authentication policy and opens no connection.
 */
export function confined<T extends { pipeline: Pipeline }>(client: T, endpoint: string, dependency: Dependency): T {
  client.pipeline.addPolicy(sameOriginPolicy(endpoint, dependency), { phase: 'Serialize' });
  return client;
}
