/** What the Key Vault stand-in's contract, behaviour and event tests share: a real KeyClient and a stand-in per test. */
import type { TestContext } from 'node:test';
import { KeyClient } from '@azure/keyvault-keys';
import { localCredential } from '../../dev/credential';
import { startKeyVaultStandIn, type KeyVaultStandIn, type KeyVaultStandInOptions } from '../../dev/keyVaultStandIn';

/** A client of a local HTTPS server (a stand-in or a recorded answer); `bodies`, when given, receives every raw response body it reads. */
export function keyClient(vaultUri: string, ca: string, bodies?: string[]): KeyClient {
  return new KeyClient(vaultUri, localCredential, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca },
    retryOptions: { retryDelayInMs: 10, maxRetries: 2 },
    additionalPolicies: bodies ? [{
      position: 'perCall',
      policy: {
        name: 'captureBody',
        sendRequest: async (request, next) => {
          const response = await next(request);
          bodies.push(response.bodyAsText ?? '');
          return response;
        },
      },
    }] : [],
  });
}

/** A stand-in vault, named cmk-test unless `o` says otherwise, closed when the test ends. */
export async function vault(t: TestContext, o: Partial<KeyVaultStandInOptions> = {}): Promise<KeyVaultStandIn> {
  const v = await startKeyVaultStandIn({ name: 'cmk-test', ...o });
  t.after(() => v.close());
  return v;
}
