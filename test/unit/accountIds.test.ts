import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accountKey, parseAccountId } from '../../shared/domain/accounts';

const SUB = '5A6E7C1D-0000-4000-8000-00000000C0DE';
const id = (group: string, name: string, sub = SUB) => `/subscriptions/${sub}/resourceGroups/${group}/providers/Microsoft.CognitiveServices/accounts/${name}`;

describe('account ids', () => {
  it('reads the ids ARM issues, in any case, with the groups and names ARM allows', () => {
    for (const [group, name] of [['rg-ai', 'aoai-chat-prod'], ['RG_(prod).eu', 'Aoai.Chat_1'], ['ressources-données', 'a1'], ['g'.repeat(90), `a${'b'.repeat(63)}`]] as const) {
      const ref = parseAccountId(id(group, name));
      assert.deepEqual(ref && [ref.subscriptionId, ref.resourceGroup, ref.name], [SUB, group, name], `${group} ${name}`);
    }
    assert.equal(accountKey(id('RG', 'Aoai').replace('/providers/Microsoft.CognitiveServices/', '/providers/microsoft.cognitiveservices/')), `${SUB}~rg~aoai`.toLowerCase());
  });

  it('refuses what ARM would refuse: a subscription that is no GUID, a group or name out of its rules', () => {
    const refused = [
      id('rg', 'a1', 'not-a-guid'), id('rg', 'a1', `${SUB}0`), id('rg.', 'a1'), id('g'.repeat(91), 'a1'), id('r g', 'a1'), id('rg', '-a1'),
      id('rg', `a${'b'.repeat(64)}`), id('rg', 'a#1'), id('rg', 'a?1'), id('rg', 'a\\1'), id('rg', 'a1/deployments/d'),
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s`,
    ];
    for (const bad of refused) assert.equal(parseAccountId(bad), undefined, bad);
  });
});
