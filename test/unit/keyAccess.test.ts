import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { managedHsmHost } from '../../shared/domain/keys';
import { GrantReads } from '../../shared/usecases/keyAccess';
import { FakeRoleGrants } from '../support/fakes/access';
import { boundAccount, hex } from '../support/fakes';

describe('key access reads', () => {
  it('reads a Managed HSM\'s local RBAC on the host the binding names, whatever form ARM gives its hsmUri', async () => {
    const reader = new FakeRoleGrants();
    const account = boundAccount('aoai-hsm', hex(1), { binding: { vaultUri: 'https://hsm1.managedhsm.azure.net/', keyName: 'cmk', keyVersion: hex(1) } });
    const hsm = { id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/hsm1', kind: 'managedHsm' as const, name: 'hsm1', location: 'westus', tenantId: 't', vaultUri: 'https://westus.hsm1.managedhsm.azure.net', enableRbacAuthorization: true, accessPolicies: [] };
    const reads = new GrantReads(reader);
    // A binding copied from ARM's regional form reads the key host too, and the read made once serves both forms.
    await reads.forAccount({ ...account, binding: { vaultUri: 'https://westus.hsm1.managedhsm.azure.net/', keyName: 'cmk', keyVersion: hex(1) } }, hsm);
    await reads.forAccount(account, hsm);
    assert.deepEqual(reader.asked.map((a) => a.target), [{ plane: 'managed-hsm', hsmUri: 'https://hsm1.managedhsm.azure.net/' }]);
  });

  it('names an HSM by its key host from every form: regional, with a port, in capitals, in a sovereign cloud, or itself named managedhsm', () => {
    const cases: Array<[string, string]> = [
      ['https://westus.hsm1.managedhsm.azure.net', 'hsm1.managedhsm.azure.net'],
      ['https://HSM1.ManagedHSM.Azure.NET/', 'hsm1.managedhsm.azure.net'],
      ['https://hsm1.managedhsm.azure.cn:443/', 'hsm1.managedhsm.azure.cn'],
      ['https://hsm-home.managedhsm.localhost:38935', 'hsm-home.managedhsm.localhost:38935'],
      ['https://westus.managedhsm.managedhsm.azure.net/', 'managedhsm.managedhsm.azure.net'],
    ];
    for (const [uri, host] of cases) assert.equal(managedHsmHost(uri), host, uri);
  });
});
