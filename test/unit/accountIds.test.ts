import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toAccountState } from '../../shared/adapters/cognitiveServices';
import { accountKey, isArmAccountId, parseAccountId } from '../../shared/domain/accounts';

const SUB = '5A6E7C1D-0000-4000-8000-00000000C0DE';
const id = (group: string, name: string, sub = SUB) => `/subscriptions/${sub}/resourceGroups/${group}/providers/Microsoft.CognitiveServices/accounts/${name}`;

// Resource groups ARM takes: .NET word characters (letters, combining marks, decimal digits, connector punctuation) and - . ( ).
const ARM_GROUPS = ['rg-ai', 'RG_(prod).eu', 'ressources-données', 'cafe\u0301', 'กิน', 'संघ', 'rg‿ai', 'g'.repeat(90)];

describe('account ids', () => {
  it('takes, from a caller, the ids ARM takes, in any case', () => {
    for (const [group, name] of [...ARM_GROUPS.map((g) => [g, 'aoai-chat-prod']), ['rg', 'Aoai.Chat_1'], ['rg', `a${'b'.repeat(63)}`]] as const) {
      assert.ok(isArmAccountId(id(group, name)), `${group} ${name}`);
      const ref = parseAccountId(id(group, name));
      assert.deepEqual(ref && [ref.subscriptionId, ref.resourceGroup, ref.name], [SUB, group, name], `${group} ${name}`);
    }
    assert.equal(accountKey(id('RG', 'Aoai').replace('/providers/Microsoft.CognitiveServices/', '/providers/microsoft.cognitiveservices/')), `${SUB}~rg~aoai`.toLowerCase());
  });

  it('refuses, from a caller, what ARM would refuse: a subscription that is no GUID, a group or name out of its rules', () => {
    const refused = [
      id('rg', 'a1', 'not-a-guid'), id('rg', 'a1', `${SUB}0`), id('rg.', 'a1'), id('g'.repeat(91), 'a1'), id('r g', 'a1'), id('rg²', 'a1'), id('rg', '-a1'),
      id('rg', `a${'b'.repeat(64)}`), id('rg', 'a#1'), id('rg', 'a?1'), id('rg', 'a\\1'), id('rg', 'a1/deployments/d'),
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s`,
      // Letters that fold to ASCII ones only under Unicode case folding: ARM's name rule is ASCII.
      id('rg', 'ſecret'), id('rg', 'a\u212Aey'), id('rg', 'a1').replace('/subscriptions/', '/ſubscriptions/'),
    ];
    for (const bad of refused) assert.equal(isArmAccountId(bad), false, bad);
  });

  it('reads every account id Azure answers with, whatever its characters: an account is never dropped for its id', () => {
    for (const odd of [id('rg²', 'a1', 'sub-from-a-stand-in'), id('grupo ñ', 'a_1')]) {
      assert.equal(parseAccountId(odd)?.id, odd);
      assert.equal(toAccountState({ id: odd, name: 'a1', properties: {} })?.id, odd);
    }
    assert.equal(parseAccountId(`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s`), undefined);
  });
});
