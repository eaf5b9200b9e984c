import type { AccessToken, TokenCredential } from '@azure/identity';

/** A credential for the local stand-ins: they check that a bearer token is present, not what it says. */
export const localCredential: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    return { token: 'local-stand-in-token', expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};
