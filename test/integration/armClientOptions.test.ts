import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { CognitiveServicesManagementClient } from '@azure/arm-cognitiveservices';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { ResourceGraphClient } from '@azure/arm-resourcegraph';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { startArmStandIn, type ArmStandIn } from '../../dev/armStandIn';
import { armClientOptions } from '../../shared/adapters/sdk';
import { sub } from '../support/armTestKit';

// Every generation of the management SDKs names ARM_ENDPOINT and its token scope differently; one set of options
// must send each to the configured endpoint (a sovereign cloud, the stand-in) with a token for that endpoint.

class RecordingCredential implements TokenCredential {
  readonly scopes: string[] = [];
  async getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    this.scopes.push(...[scopes].flat());
    return { token: 'local', expiresOnTimestamp: Date.now() + 3_600_000 };
  }
}

describe('armClientOptions: the endpoint and its scope, whatever the SDK generation', () => {
  let arm: ArmStandIn;
  before(async () => {
    arm = await startArmStandIn({ throttle: false });
  });
  after(() => arm.close());

  const calls: Array<[string, (credential: TokenCredential, options: object) => Promise<unknown>]> = [
    ['arm-cognitiveservices', async (c, o) => { for await (const _ of new CognitiveServicesManagementClient(c, sub, o).accounts.list()) break; }],
    ['arm-keyvault', async (c, o) => { for await (const _ of new KeyVaultManagementClient(c, sub, o).vaults.listBySubscription()) break; }],
    ['arm-authorization', async (c, o) => { for await (const _ of new AuthorizationManagementClient(c, sub, o).roleAssignments.listForScope(`/subscriptions/${sub}`)) break; }],
    ['arm-resourcegraph', (c, o) => new ResourceGraphClient(c, o).resources({ query: 'resources | where type =~ "microsoft.cognitiveservices/accounts"', subscriptions: [sub] })],
  ];
  for (const [sdk, call] of calls) {
    it(`${sdk} calls the configured endpoint with a token for it`, async () => {
      const credential = new RecordingCredential();
      const before = arm.requests.length;
      await call(credential, { ...armClientOptions(arm.url), tlsOptions: { ca: arm.ca } });
      assert.ok(arm.requests.length > before, 'the stand-in at the configured endpoint answered');
      assert.deepEqual([...new Set(credential.scopes)], [`${arm.url.replace(/\/+$/, '')}/.default`]);
    });
  }
});
