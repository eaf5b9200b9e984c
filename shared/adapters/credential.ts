import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { sdk } from './sdk';

/** What every Azure client authenticates with: the app's identity in Azure, the local stack's stand-in off it. */
export type { AccessToken, TokenCredential };

/** DefaultAzureCredential, with @azure/identity loaded at the first token request rather than at start-up. */
export function defaultCredential(): TokenCredential {
  let credential: Promise<TokenCredential> | undefined;
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      credential ??= sdk.identity().then(({ DefaultAzureCredential }) => new DefaultAzureCredential());
      return (await credential).getToken(scopes, options);
    },
  };
}
