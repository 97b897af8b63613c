import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetricsClient, DEFAULT_LIMITS, validateMetric } from '../../dist/esm/index.js';
import { installBrowser } from '../support/fake-browser.mjs';
import { base, fakeFetch, recordedClient, recorder } from '../support/fake-fetch.mjs';

const T = 1_700_000_000_000;

/** Records through `use(client)`, closes, and returns the request bodies as sent. */
async function bodies(use, options = {}) {
  const f = fakeFetch();
  const r = recorder();
  const client = createMetricsClient({ ...base, fetch: f.fetch, ...r, ...options });
  use(client);
  assert.equal(await client.close(), true);
  return { bodies: f.calls.map((c) => c.init.body), drops: r.drops, client };
}

describe('counters and histograms on the wire', () => {
  it('sends_a_counter_with_type_counter_and_an_observation_with_type_histogram_after_profile_id', async () => {
    const { bodies: sent } = await bodies((c) => {
      c.counter('checkouts', 2, { shop: 'eu' });
      c.observe('render_ms', 41.5);
    });
    assert.equal(sent.length, 1);
    const [counter, histogram] = JSON.parse(sent[0]).metrics;
    assert.equal(typeof counter.timestamp, 'number');
    assert.equal(
      sent[0],
      '{"metrics":[' +
        `{"name":"checkouts","value":2,"timestamp":${counter.timestamp},"tags":{"shop":"eu"},"profileId":"user-1","type":"counter"},` +
        `{"name":"render_ms","value":41.5,"timestamp":${histogram.timestamp},"profileId":"user-1","type":"histogram"}` +
        ']}',
    );
  });

  // A gauge request is byte for byte the one of the SDK before types existed: no "type" field.
  it('sends_gauges_without_a_type_field_byte_identical_to_before', async () => {
    const { bodies: sent } = await bodies((c) => {
      c.gauge('cpu', 75.5, { host: 'h1' });
      c.record({ name: 'mem', value: 1, timestamp: T, profileId: 'p2' });
      c.record({ name: 'disk', value: 2, timestamp: T, type: 'gauge' });
      c.record({ name: 'net', value: 3, timestamp: T, type: undefined });
      c.record({ name: 'io', value: 4, timestamp: T, type: null });
    });
    const ts = JSON.parse(sent[0]).metrics[0].timestamp;
    assert.equal(
      sent[0],
      '{"metrics":[' +
        `{"name":"cpu","value":75.5,"timestamp":${ts},"tags":{"host":"h1"},"profileId":"user-1"},` +
        `{"name":"mem","value":1,"timestamp":${T},"profileId":"p2"},` +
        `{"name":"disk","value":2,"timestamp":${T},"profileId":"user-1"},` +
        `{"name":"net","value":3,"timestamp":${T},"profileId":"user-1"},` +
        `{"name":"io","value":4,"timestamp":${T},"profileId":"user-1"}` +
        ']}',
    );
  });

  it('record_takes_a_type_with_its_own_timestamp_tags_and_profile_id', async () => {
    const { bodies: sent } = await bodies((c) => {
      c.record({ name: 'jobs', value: 3, timestamp: T, tags: { q: 'a' }, profileId: 'w1', type: 'counter' });
      c.record({ name: 'lat', value: 0, timestamp: T, type: 'histogram' });
    });
    assert.deepEqual(JSON.parse(sent[0]).metrics, [
      { name: 'jobs', value: 3, timestamp: T, tags: { q: 'a' }, profileId: 'w1', type: 'counter' },
      { name: 'lat', value: 0, timestamp: T, profileId: 'user-1', type: 'histogram' },
    ]);
  });

  it('merges_the_client_tags_into_counters_and_histograms_like_gauges', async () => {
    const { bodies: sent } = await bodies(
      (c) => {
        c.counter('hits', 1, { status: 200 });
        c.observe('size', 10);
      },
      { tags: { env: 'prod' } },
    );
    const [a, b] = JSON.parse(sent[0]).metrics;
    assert.deepEqual(a.tags, { env: 'prod', status: '200' });
    assert.deepEqual(b.tags, { env: 'prod' });
  });

  it('writes_a_counter_increment_beyond_2_to_the_53_as_a_double', async () => {
    const { bodies: sent } = await bodies((c) => c.counter('bytes', 2 ** 64));
    assert.match(sent[0], /"value":1\.8446744073709552e\+19,/);
  });
});

describe('counter and histogram validation mirrors the server', () => {
  const good = { name: 'c', value: 1, timestamp: T, profileId: 'p' };
  const check = (patch) => validateMetric({ ...good, ...patch }, DEFAULT_LIMITS, T);
  const cases = [
    ['counter increment 0', { type: 'counter', value: 0 }, undefined],
    ['counter increment -0 (not negative, as the server reads it)', { type: 'counter', value: -0 }, undefined],
    ['counter increment 0.5', { type: 'counter', value: 0.5 }, undefined],
    ['counter increment 2^64', { type: 'counter', value: 2 ** 64 }, undefined],
    ['negative counter increment', { type: 'counter', value: -1 }, 'value: a counter increment must not be negative'],
    ['tiny negative counter increment', { type: 'counter', value: -Number.MIN_VALUE }, 'value'],
    ['NaN counter increment', { type: 'counter', value: NaN }, 'value'],
    ['infinite counter increment', { type: 'counter', value: Infinity }, 'value'],
    ['negative infinite counter increment', { type: 'counter', value: -Infinity }, 'value'],
    ['string counter increment', { type: 'counter', value: '1' }, 'value'],
    ['negative histogram observation', { type: 'histogram', value: -3.5 }, undefined],
    ['NaN histogram observation', { type: 'histogram', value: NaN }, 'value'],
    ['infinite histogram observation', { type: 'histogram', value: Infinity }, 'value'],
    ['negative gauge', { type: 'gauge', value: -1 }, undefined],
    ['type absent', { type: undefined }, undefined],
    ['type null (absent)', { type: null }, undefined],
    ['unknown type', { type: 'summary' }, 'type: must be gauge, counter or histogram'],
    ['type in upper case', { type: 'Counter' }, 'type'],
    ['empty type', { type: '' }, 'type'],
    ['numeric type', { type: 1 }, 'type'],
    ['type as an object', { type: { toString: () => 'counter' } }, 'type'],
  ];
  for (const [what, patch, expected] of cases) {
    it(`${expected === undefined ? 'accepts' : 'refuses'}_${what.replaceAll(/[^A-Za-z0-9^]+/g, '_')}`, () => {
      const got = check(patch);
      if (expected === undefined) assert.equal(got, undefined);
      else if (expected.includes(':')) assert.equal(got, expected);
      else assert.match(got ?? '', new RegExp('^' + expected + ': '));
    });
  }

  it('refuses_a_negative_or_non_finite_counter_increment_before_sending_and_reports_it_as_invalid', async () => {
    const {
      bodies: sent,
      drops,
      client,
    } = await bodies((c) => {
      c.counter('c', -1);
      c.counter('c', NaN);
      c.counter('c', -Infinity);
      c.counter('c', 1);
      c.observe('h', -1);
      c.record({ name: 'x', value: 1, type: 'summary' });
    });
    assert.deepEqual(
      drops.map((d) => [d.metric.value, d.metric.type, d.reason, d.message]),
      [
        [-1, 'counter', 'invalid', 'value: a counter increment must not be negative'],
        [NaN, 'counter', 'invalid', 'value: must be a finite number'],
        [-Infinity, 'counter', 'invalid', 'value: must be a finite number'],
        [1, 'summary', 'invalid', 'type: must be gauge, counter or histogram'],
      ],
    );
    assert.deepEqual(
      JSON.parse(sent[0]).metrics.map((m) => [m.name, m.value, m.type]),
      [
        ['c', 1, 'counter'],
        ['h', -1, 'histogram'],
      ],
    );
    assert.deepEqual(client.stats(), { sent: 2, dropped: 0, rejected: 4, queued: 0 });
  });

  it('reports_a_server_side_type_conflict_as_rejected_with_the_server_reason', async () => {
    const f = fakeFetch(() =>
      Response.json({
        accepted: 0,
        rejected: [{ index: 0, field: 'type', error: 'the name is in use as a gauge' }],
      }),
    );
    const r = recorder();
    const client = createMetricsClient({ ...base, fetch: f.fetch, ...r });
    client.counter('cpu', 1);
    await client.close();
    assert.deepEqual(
      r.drops.map((d) => [d.metric.name, d.reason, d.message]),
      [['cpu', 'rejected', 'type: the name is in use as a gauge']],
    );
  });
});

describe('counter and observe never throw', () => {
  const hostile = [
    ['a symbol name', Symbol('n'), 1],
    [
      'a name whose toString throws',
      {
        toString: () => {
          throw new Error('x');
        },
      },
      1,
    ],
    [
      'a value whose valueOf throws',
      'n',
      {
        valueOf: () => {
          throw new Error('x');
        },
      },
    ],
    ['a bigint value', 'n', 1n],
    ['no arguments', undefined, undefined],
  ];
  for (const [what, name, value] of hostile)
    it(`drops_${what.replaceAll(' ', '_')}_as_invalid`, async () => {
      const { client, f, r } = recordedClient();
      assert.doesNotThrow(() => client.counter(name, value));
      assert.doesNotThrow(() => client.observe(name, value));
      assert.doesNotThrow(() =>
        client.counter('n', -1, {
          get k() {
            throw new Error('getter');
          },
        }),
      );
      assert.equal(await client.close(), true);
      assert.equal(f.calls.length, 0);
      assert.deepEqual(
        r.drops.map((d) => d.reason),
        ['invalid', 'invalid', 'invalid'],
      );
    });

  it('drops_counters_and_observations_on_a_disabled_client_as_disabled', () => {
    const r = recorder();
    const client = createMetricsClient({ ...base, appId: 'no spaces', ...r });
    assert.doesNotThrow(() => client.counter('c', 1, { a: 'b' }));
    assert.doesNotThrow(() => client.observe('h', 2));
    assert.deepEqual(
      r.drops.map((d) => [d.metric, d.reason]),
      [
        [{ name: 'c', value: 1, tags: { a: 'b' }, type: 'counter' }, 'disabled'],
        [{ name: 'h', value: 2, tags: undefined, type: 'histogram' }, 'disabled'],
      ],
    );
  });

  it('drops_counters_recorded_after_close_as_closed', async () => {
    const r = recorder();
    const client = createMetricsClient({ ...base, fetch: fakeFetch().fetch, ...r });
    await client.close();
    client.counter('c', 1);
    client.observe('h', 1);
    assert.deepEqual(
      r.drops.map((d) => [d.metric.type, d.reason]),
      [
        ['counter', 'closed'],
        ['histogram', 'closed'],
      ],
    );
  });
});

describe('persist keeps the type', () => {
  it('stores_counters_and_histograms_with_their_type_and_sends_them_so_on_the_next_load', async () => {
    // Offline at exit: nothing can leave, everything is stored.
    const page = installBrowser({ onLine: false, beacon: () => false });
    try {
      const first = createMetricsClient({ ...base, fetch: fakeFetch().fetch, persist: true, flushIntervalMs: 3600000 });
      first.counter('c', 2);
      first.observe('h', 7);
      first.gauge('g', 1);
      page.visibility('hidden');
      const stored = JSON.parse(page.storage.get('mca:http://metrics.test/api/v2/app/web-app/metrics'));
      assert.deepEqual(
        stored.map((m) => [m.name, m.type]),
        [
          ['c', 'counter'],
          ['h', 'histogram'],
          ['g', undefined],
        ],
      );
      const f = fakeFetch();
      const second = createMetricsClient({ ...base, fetch: f.fetch, persist: true });
      assert.equal(await second.close(), true);
      assert.deepEqual(
        f.calls[0].metrics.map((m) => [m.name, m.value, m.type]),
        [
          ['c', 2, 'counter'],
          ['h', 7, 'histogram'],
          ['g', 1, undefined],
        ],
      );
    } finally {
      page.uninstall();
    }
  });
});
