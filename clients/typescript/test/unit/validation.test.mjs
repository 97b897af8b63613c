import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetricsClient, DEFAULT_LIMITS, validateMetric } from '../../dist/esm/index.js';
import { base, fakeFetch, recorder } from '../support/fake-fetch.mjs';

const NOW = 1_700_000_000_000;
const good = { name: 'cpu', value: 1, timestamp: NOW, tags: {}, profileId: 'p' };
const check = (patch, limits = DEFAULT_LIMITS) => validateMetric({ ...good, ...patch }, limits, NOW);
const tags = (n) => Object.fromEntries(Array.from({ length: n }, (_, i) => ['k' + i, 'v']));

// DEFAULT_LIMITS themselves are checked against the server's documented defaults by
// test/contract/limits.test.mjs (read from api/openapi.yaml); here each is checked at and just past
// its bound.
describe('validation parity with the server limits', () => {
  const cases = [
    ['name of 200 bytes', { name: 'n'.repeat(200) }, undefined],
    ['name of 201 bytes', { name: 'n'.repeat(201) }, 'name'],
    ['name of 100 two-byte characters (200 bytes)', { name: 'é'.repeat(100) }, undefined],
    ['name of 101 two-byte characters (202 bytes)', { name: 'é'.repeat(101) }, 'name'],
    ['empty name', { name: '' }, 'name'],
    ['missing name', { name: undefined }, 'name'],
    ['name with a lone surrogate (not encodable as UTF-8)', { name: 'a\ud800b' }, 'name'],
    ['name with an emoji (a surrogate pair)', { name: 'a😀b' }, undefined],
    ['negative value', { value: -1.5 }, undefined],
    ['NaN value', { value: NaN }, 'value'],
    ['infinite value', { value: Infinity }, 'value'],
    ['string value', { value: '75.5' }, 'value'],
    ['boolean value', { value: true }, 'value'],
    ['null value', { value: null }, 'value'],
    ['absent timestamp', { timestamp: undefined }, undefined],
    ['timestamp 0', { timestamp: 0 }, undefined],
    ['negative timestamp', { timestamp: -1 }, 'timestamp'],
    ['fractional timestamp', { timestamp: NOW + 0.5 }, 'timestamp'],
    ['timestamp exactly 3600 s ahead', { timestamp: NOW + 3_600_000 }, undefined],
    ['timestamp 3600 s + 1 ms ahead', { timestamp: NOW + 3_600_001 }, 'timestamp'],
    ['32 tags', { tags: tags(32) }, undefined],
    ['33 tags', { tags: tags(33) }, 'tags'],
    ['tag key of 100 bytes', { tags: { ['k'.repeat(100)]: 'v' } }, undefined],
    ['tag key of 101 bytes', { tags: { ['k'.repeat(101)]: 'v' } }, 'tags'],
    ['empty tag key', { tags: { '': 'v' } }, 'tags'],
    ['empty tag value', { tags: { k: '' } }, undefined],
    ['tag value of 1024 bytes', { tags: { k: 'v'.repeat(1024) } }, undefined],
    ['tag value of 1025 bytes', { tags: { k: 'v'.repeat(1025) } }, 'tags'],
    ['numeric tag value', { tags: { k: 1 } }, 'tags'],
    ['tags as an array', { tags: ['a'] }, 'tags'],
    ['tags as a string', { tags: 'a=b' }, 'tags'],
    ['profileId of 256 bytes', { profileId: 'p'.repeat(256) }, undefined],
    ['profileId of 257 bytes', { profileId: 'p'.repeat(257) }, 'profileId'],
    ['empty profileId', { profileId: '' }, 'profileId'],
    ['numeric profileId', { profileId: 7 }, 'profileId'],
  ];
  for (const [what, patch, field] of cases) {
    it(`${field ? 'refuses' : 'accepts'} ${what}`, () => {
      const err = check(patch);
      if (field) assert.match(err ?? '', new RegExp('^' + field + '[.:]'));
      else assert.equal(err, undefined);
    });
  }

  it('follows_configured_limits_like_a_server_with_changed_max_settings', () => {
    const limits = { ...DEFAULT_LIMITS, maxNameBytes: 5, maxTags: 1 };
    assert.equal(check({ name: 'abcde' }, limits), undefined);
    assert.match(check({ name: 'abcdef' }, limits), /^name:/);
    assert.match(check({ tags: tags(2) }, limits), /^tags:/);
  });

  it('reports_invalid_input_through_on_drop_counts_it_rejected_and_never_sends_it', async () => {
    const r = recorder();
    const f = fakeFetch();
    const client = createMetricsClient({ ...base, fetch: f.fetch, limits: { maxNameBytes: 3 }, ...r });
    client.gauge('toolong', 1);
    client.gauge('ok', NaN);
    client.gauge('ok', 1);
    await client.flush();
    assert.deepEqual(
      r.drops.map((d) => [d.metric.name, d.reason]),
      [
        ['toolong', 'invalid'],
        ['ok', 'invalid'],
      ],
    );
    assert.match(r.drops[1].message, /^value:/);
    assert.deepEqual(
      f.calls.flatMap((c) => c.metrics.map((m) => m.name)),
      ['ok'],
    );
    assert.deepEqual(client.stats(), { sent: 1, dropped: 0, rejected: 2, queued: 0 });
  });
});
