import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normaliseKeyVaultEvent } from '../../shared/domain/events';
import { fixtureFiles, readFixture } from '../support/fixtures';

const VERSION = 'ee059b2bb5bc48398a53b168c6cdcb10';

/** Every event sample in test/fixtures, single events and arrays alike. */
function fixtureEvents(): Array<[string, Record<string, unknown>]> {
  const files = [
    ...fixtureFiles('eventgrid'),
    ...fixtureFiles('eventgrid-2018-01-01/cloud-events-schema'),
    ...fixtureFiles('eventgrid-2018-01-01/event-grid-schema'),
  ];
  return files.flatMap((file) => {
    const body = readFixture<Record<string, unknown> | Array<Record<string, unknown>>>(file);
    return (Array.isArray(body) ? body : [body]).map((e): [string, Record<string, unknown>] => [file, e]);
  });
}

/** The same sample turned into a key event, keeping its schema and quirks (casing, spaces, string NBF/EXP). */
function asKeyEvent(event: Record<string, unknown>, type = 'KeyNewVersionCreated'): Record<string, unknown> {
  const copy = structuredClone(event);
  const typeField = 'eventType' in copy ? 'eventType' : 'type';
  copy[typeField] = `Microsoft.KeyVault.${type}`;
  copy.subject = 'cmk';
  const data = copy.data as Record<string, unknown>;
  for (const k of Object.keys(data)) {
    const key = k.trim().toLowerCase();
    if (key === 'id') data[k] = `https://sample-kv.vault.azure.net/keys/cmk/${VERSION}`;
    if (key === 'objecttype') data[k] = 'Key';
    if (key === 'objectname') data[k] = 'cmk';
  }
  return copy;
}

describe('event normalisation over the fixture samples', () => {
  const samples = fixtureEvents();
  it('finds the samples', () => assert.ok(samples.length >= 4));

  for (const [file, sample] of samples) {
    it(`ignores the secret event in ${file}`, () => {
      const result = normaliseKeyVaultEvent(sample);
      assert.equal(result.kind, 'ignored');
    });
    it(`reads the key variant of ${file}`, () => {
      const result = normaliseKeyVaultEvent(asKeyEvent(sample));
      assert.equal(result.kind, 'key-event', JSON.stringify(result));
      if (result.kind !== 'key-event') return;
      assert.equal(result.event.type, 'KeyNewVersionCreated');
      assert.equal(result.event.vaultUri, 'https://sample-kv.vault.azure.net/');
      assert.equal(result.event.keyName, 'cmk');
      assert.equal(result.event.version, VERSION);
      assert.equal(result.event.vaultName, 'sample-kv');
      assert.equal(result.event.notBefore?.getTime(), 1559081980_000);
      assert.equal(result.event.expiresOn?.getTime(), 1559082102_000);
      assert.match(result.event.vaultResourceId ?? '', /Microsoft\.KeyVault\/vaults\/sample-kv$/);
    });
  }

  it('reads every key event type named in the 2024-01-01 schema, with exactly its property names', () => {
    const { definitions } = readFixture<{ definitions: Record<string, { properties: Record<string, unknown> }> }>(
      'eventgrid-2024-01-01/KeyVault-2024-01-01-definitions-extract.json',
    );
    const keyDefinitions = Object.entries(definitions).filter(([name]) => /^KeyVaultKey/.test(name));
    assert.deepEqual(keyDefinitions.map(([name]) => name).sort(), ['KeyVaultKeyExpiredEventData', 'KeyVaultKeyNearExpiryEventData', 'KeyVaultKeyNewVersionCreatedEventData']);
    for (const [name, def] of keyDefinitions) {
      const type = name.replace(/^KeyVault/, '').replace(/EventData$/, '');
      const values: Record<string, unknown> = {
        Id: `https://kv.vault.azure.net/keys/cmk/${VERSION}`, VaultName: 'kv', ObjectType: 'Key', ObjectName: 'cmk', Version: VERSION, NBF: 1, EXP: 2,
      };
      const data = Object.fromEntries(Object.keys(def.properties).map((p) => [p, values[p]]));
      const result = normaliseKeyVaultEvent({ id: 'e1', eventType: `Microsoft.KeyVault.${type}`, eventTime: '2026-06-01T00:00:00Z', subject: 'cmk', data });
      assert.equal(result.kind, 'key-event', `${name}: ${JSON.stringify(result)}`);
      assert.equal(result.kind === 'key-event' && result.event.type, type);
    }
  });
});

describe('hand-made variants', () => {
  const base = {
    id: 'evt-1',
    topic: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv',
    subject: 'cmk',
    eventType: 'Microsoft.KeyVault.KeyNewVersionCreated',
    eventTime: '2026-06-01T00:00:00Z',
    data: { Id: `https://kv.vault.azure.net/keys/cmk/${VERSION}`, VaultName: 'kv', ObjectType: 'Key', ObjectName: 'cmk', Version: VERSION, NBF: null, EXP: null },
  };
  const read = (e: unknown) => normaliseKeyVaultEvent(e);

  it('accepts camelCase data as old docs show it', () => {
    const r = read({ ...base, data: { id: base.data.Id, vaultName: 'kv', objectType: 'Key', objectName: 'cmk', version: VERSION, nbf: 1700000000, exp: '1800000000' } });
    assert.equal(r.kind === 'key-event' && r.event.expiresOn?.toISOString(), new Date(1800000000_000).toISOString());
  });
  it('trims keys and values ("ObjectName " and " version")', () => {
    const r = read({ ...base, data: { ...base.data, Version: ` ${VERSION} `, 'ObjectName ': ' cmk' } });
    assert.equal(r.kind === 'key-event' && r.event.keyName, 'cmk');
  });
  it('takes NBF/EXP as null, number and numeric string', () => {
    for (const [nbf, expected] of [[null, undefined], [1700000000, 1700000000_000], ['1700000000', 1700000000_000]] as const) {
      const r = read({ ...base, data: { ...base.data, NBF: nbf } });
      assert.equal(r.kind === 'key-event' ? r.event.notBefore?.getTime() : 'invalid', expected);
    }
  });
  it('rejects a non-numeric EXP naming the field', () => {
    const r = read({ ...base, data: { ...base.data, EXP: 'soon' } });
    assert.equal(r.kind, 'invalid');
    assert.match(r.kind === 'invalid' ? r.problem : '', /data\.EXP/);
  });
  it('rejects an event without a time, or with one that is not a date-time, naming it: its jobs are ordered by it', () => {
    const { eventTime: _t, ...timeless } = base;
    const cases = [
      [timeless, /has no eventTime/],
      [{ ...base, eventTime: 'yesterday' }, /eventTime is not an RFC 3339 date-time from 1970 to 9999 \(yesterday\)/],
      // Dates JavaScript reads but no job can carry (ISO years of four digits) or that sort before the epoch.
      [{ ...base, eventTime: '+010000-01-01T00:00:00Z' }, /eventTime is not an RFC 3339 date-time from 1970 to 9999 \(\+010000-01-01T00:00:00Z\)/],
      [{ ...base, eventTime: '-000001-01-01T00:00:00Z' }, /eventTime is not an RFC 3339 date-time from 1970 to 9999/],
      [{ ...base, eventTime: '1969-12-31T23:59:59Z' }, /eventTime is not an RFC 3339 date-time from 1970 to 9999/],
      [{ ...base, eventTime: '9999-12-31T23:30:00-01:00' }, /eventTime is not an RFC 3339 date-time from 1970 to 9999/],
      // What Date.parse reads as some date: a bare number, words around a year, a date alone, a day past the month's end.
      ...['1', 'foo 2024', '2026-06-01', '2026-06-01 00:00:00Z', '2026-02-30T00:00:00Z', '2026-06-01T24:00:00Z', '2026-06-01T00:00Z', '2026-06-01T00:00:00+25:00']
        .map((eventTime) => [{ ...base, eventTime }, new RegExp(`eventTime is not an RFC 3339 date-time from 1970 to 9999 \\(${eventTime.replace(/[+]/g, '\\+')}\\)`)] as const),
    ] as const;
    for (const [event, problem] of cases) {
      const r = read(event);
      assert.equal(r.kind, 'invalid');
      assert.match(r.kind === 'invalid' ? r.problem : '', problem);
    }
    const ok = read(base);
    assert.equal(ok.kind === 'key-event' && ok.event.time, '2026-06-01T00:00:00.000Z');
    // Event Grid writes seven fractional digits; RFC 3339 allows an offset and lower-case t and z.
    for (const [eventTime, time] of [['2019-07-25T01:08:33.1036736Z', '2019-07-25T01:08:33.103Z'], ['2026-06-01T02:30:00+02:30', '2026-06-01T00:00:00.000Z'], ['2024-02-29t00:00:00z', '2024-02-29T00:00:00.000Z']]) {
      const r = read({ ...base, eventTime });
      assert.equal(r.kind === 'key-event' && r.event.time, time, eventTime);
    }
  });
  it('reads CloudEvents 1.0 (type/source/time)', () => {
    const r = read({ id: 'c1', source: base.topic, subject: 'cmk', type: 'Microsoft.KeyVault.KeyNearExpiry', time: base.eventTime, specversion: '1.0', data: base.data });
    assert.equal(r.kind === 'key-event' && r.event.type, 'KeyNearExpiry');
    assert.equal(r.kind === 'key-event' && r.event.vaultResourceId, base.topic);
  });
  it('accepts any casing of the event type and envelope keys', () => {
    const r = read({ ID: 'x', EventType: 'microsoft.keyvault.keyexpired', EVENTTIME: base.eventTime, Data: base.data });
    assert.equal(r.kind === 'key-event' && r.event.type, 'KeyExpired');
  });
  it('ignores secret, certificate and access-policy events and other sources', () => {
    for (const type of ['Microsoft.KeyVault.SecretNewVersionCreated', 'Microsoft.KeyVault.CertificateNearExpiry', 'Microsoft.KeyVault.VaultAccessPolicyChanged', 'Microsoft.Storage.BlobCreated']) {
      assert.equal(read({ ...base, eventType: type }).kind, 'ignored', type);
    }
  });
  it('ignores a key event type whose ObjectType says otherwise', () => {
    assert.equal(read({ ...base, data: { ...base.data, ObjectType: 'Secret' } }).kind, 'ignored');
  });
  it('names what is missing or malformed', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['text', /JSON object/],
      [{ ...base, eventType: undefined }, /eventType/],
      [{ ...base, id: undefined }, /no id/],
      [{ ...base, data: undefined }, /no data/],
      [{ ...base, data: { ...base.data, Id: undefined } }, /data\.Id/],
      [{ ...base, data: { ...base.data, Id: 'not a url' } }, /not a URL/],
      [{ ...base, data: { ...base.data, Id: `http://kv.vault.azure.net/keys/cmk/${VERSION}` } }, /https:\/\//],
      [{ ...base, data: { ...base.data, Version: 'abc', Id: 'https://kv.vault.azure.net/keys/cmk/abc' } }, /32 hex/],
      [{ ...base, data: { ...base.data, ObjectName: 'other' } }, /disagree/],
    ];
    for (const [event, problem] of cases) {
      const r = read(event);
      assert.equal(r.kind, 'invalid', JSON.stringify(event));
      assert.match(r.kind === 'invalid' ? r.problem : '', problem);
    }
  });
});
