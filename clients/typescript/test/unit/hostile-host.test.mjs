// The host page and its data as a hostile caller would make them (findings 5, 6, 8 and 9).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { createMetricsClient } from '../../dist/esm/index.js';
import { base, fakeFetch, ok, pending, recorder } from '../support/fake-fetch.mjs';

const distUrl = new URL('../../dist/esm/index.js', import.meta.url).href;

/**
 * Runs `body` (an async function's source, given `createMetricsClient`) in a worker and resolves
 * with what it returns, or with `{ timedOut: true }` when it has not finished within `ms`: a
 * client that freezes the event loop cannot freeze the test runner.
 */
function inWorker(body, ms = 10_000) {
  const code = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(distUrl)}).then(async ({ createMetricsClient }) => {
      const result = await (${body})(createMetricsClient);
      parentPort.postMessage(result);
    });`;
  const worker = new Worker(code, { eval: true });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      worker.terminate();
      resolve({ timedOut: true });
    }, ms);
    worker.once('message', (m) => {
      clearTimeout(timer);
      worker.terminate();
      resolve(m);
    });
    worker.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

describe('finding 5: the factory never throws into the host page', () => {
  const hostile = [
    ['an appId with a lone surrogate', { appId: '\uD800' }],
    ['a Symbol as endpoint', { endpoint: Symbol('e') }],
    [
      'an appId whose toString throws',
      {
        appId: {
          toString() {
            throw new Error('boom');
          },
        },
      },
    ],
    ['an appId the service would refuse', { appId: 'bad app' }],
    ['an apiKey with a line break', { apiKey: 'k\nX-Injected: 1' }],
  ];
  for (const [what, patch] of hostile) {
    it(`gives_a_disabled_client_and_tells_on_error_for_${what.replaceAll(' ', '_')}`, async () => {
      const r = recorder();
      let client;
      assert.doesNotThrow(() => (client = createMetricsClient({ ...base, fetch: fakeFetch().fetch, ...patch, ...r })));
      assert.equal(r.errors.length, 1);
      assert.equal(r.errors[0].code, 'invalid_option');
      assert.match(r.errors[0].message, /^client disabled: /);
      client.gauge('a', 1);
      client.record({ name: 'b', value: 2 });
      assert.deepEqual(
        r.drops.map((d) => [d.metric.name, d.reason]),
        [
          ['a', 'disabled'],
          ['b', 'disabled'],
        ],
      );
      assert.equal(await client.flush(), true);
      assert.equal(await client.close(), true);
      assert.deepEqual(client.stats(), { sent: 0, dropped: 2, rejected: 0, queued: 0 });
    });
  }

  it('survives_no_options_null_options_and_options_whose_getters_throw', () => {
    const trap = new Proxy(
      {},
      {
        get() {
          throw new Error('getter');
        },
      },
    );
    for (const options of [undefined, null, 1, 'x', trap]) {
      let client;
      assert.doesNotThrow(() => (client = createMetricsClient(options)));
      assert.doesNotThrow(() => client.gauge('a', 1));
      assert.equal(client.stats().queued, 0);
    }
  });
});

describe('finding 6: options are validated and clamped', () => {
  it('clamps_max_batch_size_0_to_1_so_flush_ends_instead_of_freezing_the_event_loop', async () => {
    const result = await inWorker(`async (createMetricsClient) => {
      const sizes = [];
      const errors = [];
      const client = createMetricsClient({
        endpoint: 'http://metrics.test', appId: 'a', profileId: 'p', maxBatchSize: 0, flushIntervalMs: 60000,
        fetch: async (url, init) => {
          const n = JSON.parse(init.body).metrics.length;
          sizes.push(n);
          return new Response(JSON.stringify({ accepted: n, rejected: [] }), { status: 200 });
        },
        onError: (e) => errors.push([e.code, e.message]),
      });
      client.gauge('a', 1);
      client.gauge('b', 2);
      client.gauge('c', 3);
      const flushed = await client.flush();
      return { flushed, sizes, errors, stats: client.stats() };
    }`);
    assert.notEqual(result.timedOut, true, 'flush() did not end within 10 s');
    assert.equal(result.flushed, true);
    assert.deepEqual(result.sizes, [1, 1, 1]);
    assert.deepEqual(result.errors, [['invalid_option', 'maxBatchSize 0 is outside 1..1000']]);
    assert.equal(result.stats.sent, 3);
  });

  it('uses_the_default_bound_for_max_queue_size_nan_so_the_queue_stays_bounded', () => {
    const r = recorder();
    const f = fakeFetch(pending);
    const client = createMetricsClient({
      ...base,
      fetch: f.fetch,
      maxQueueSize: NaN,
      maxBatchSize: 1000,
      flushIntervalMs: 3_600_000,
      ...r,
    });
    // Two requests go out and never come back; of the rest, 1000 may wait.
    for (let i = 0; i < 3500; i++) client.gauge('m' + i, i);
    const inFlight = f.calls.reduce((n, c) => n + c.metrics.length, 0);
    assert.equal(f.calls.length, 2);
    assert.deepEqual(
      r.errors.map((e) => e.message),
      ['maxQueueSize is not a number: using 1000'],
    );
    assert.equal(r.drops.filter((d) => d.reason == 'queue_full').length, 3500 - inFlight - 1000);
    assert.equal(client.stats().queued, inFlight + 1000);
  });

  it('replaces_or_clamps_every_numeric_option_that_cannot_work', () => {
    const r = recorder();
    createMetricsClient({
      ...base,
      fetch: fakeFetch().fetch,
      maxBatchSize: 5000,
      maxBatchBytes: 'big',
      flushIntervalMs: -1,
      maxConcurrentRequests: 0,
      requestTimeoutMs: Infinity,
      retryBaseDelayMs: 0,
      maxRetryDelayMs: 2 ** 40,
      closeTimeoutMs: -5,
      keepaliveBytes: 1e9,
      ...r,
    });
    assert.deepEqual(
      r.errors.map((e) => e.message),
      [
        'maxBatchSize 5000 is outside 1..1000',
        'maxBatchBytes is not a number: using 60000',
        'flushIntervalMs -1 is outside 0..3600000',
        'maxConcurrentRequests 0 is outside 1..6',
        'requestTimeoutMs Infinity is outside 100..600000',
        'retryBaseDelayMs 0 is outside 1..600000',
        'maxRetryDelayMs 1099511627776 is outside 1..600000',
        'closeTimeoutMs -5 is outside 0..600000',
        'keepaliveBytes 1000000000 is outside 1024..65536',
      ],
    );
  });
});

describe('finding 8: no metric vanishes, no call blocks', () => {
  it('retries_a_batch_whose_fetch_resolved_to_null_and_delivers_it', async () => {
    const r = recorder();
    let n = 0;
    const fetch = async (url, init) => (n++ == 0 ? null : ok(JSON.parse(init.body).metrics.length));
    const client = createMetricsClient({ ...base, fetch, retryBaseDelayMs: 1, maxRetryDelayMs: 1, ...r });
    client.gauge('a', 1);
    assert.equal(await client.flush(), false);
    assert.match(r.errors[0].message, /fetch resolved to object/);
    assert.equal(client.stats().queued, 1, 'still queued, waiting for the retry');
    assert.equal(await client.close(), true);
    assert.deepEqual(client.stats(), { sent: 1, dropped: 0, rejected: 0, queued: 0 });
    assert.deepEqual(r.drops, []);
  });

  it('reports_every_metric_a_fetch_that_always_resolves_to_null_never_delivered', async () => {
    const r = recorder();
    const client = createMetricsClient({
      ...base,
      fetch: async () => null,
      retryBaseDelayMs: 1,
      maxRetryDelayMs: 5,
      closeTimeoutMs: 300,
      ...r,
    });
    client.gauge('a', 1);
    client.gauge('b', 1);
    assert.equal(await client.close(), false);
    assert.deepEqual(
      r.drops.map((d) => [d.metric.name, d.reason]),
      [
        ['a', 'closed'],
        ['b', 'closed'],
      ],
    );
    assert.deepEqual(client.stats(), { sent: 0, dropped: 2, rejected: 0, queued: 0 });
  });

  it('checks_the_tag_count_before_copying_so_200000_tag_keys_cost_no_more_than_counting_them', () => {
    const tags = {};
    for (let i = 0; i < 200_000; i++) tags['k' + i] = 'v';
    // What counting the keys alone costs on this machine now; the client may do that, not more.
    let t0 = performance.now();
    Object.keys(tags).length;
    const countMs = performance.now() - t0;
    const r = recorder();
    const client = createMetricsClient({ ...base, fetch: fakeFetch().fetch, ...r });
    t0 = performance.now();
    client.gauge('a', 1, tags);
    const gaugeMs = performance.now() - t0;
    assert.deepEqual(
      r.drops.map((d) => [d.reason, d.message]),
      [['invalid', 'tags: at most 32']],
    );
    assert.ok(gaugeMs < 2 * countMs + 50, `gauge() took ${gaugeMs.toFixed(0)} ms, counting ${countMs.toFixed(0)} ms`);
  });

  it('refuses_a_32_MB_name_without_a_pass_over_it', () => {
    const name = 'n'.repeat(32 * 1024 * 1024);
    let t0 = performance.now();
    new TextEncoder().encode(name);
    const encodeMs = performance.now() - t0;
    const r = recorder();
    const client = createMetricsClient({ ...base, fetch: fakeFetch().fetch, ...r });
    t0 = performance.now();
    client.gauge(name, 1);
    const gaugeMs = performance.now() - t0;
    assert.deepEqual(
      r.drops.map((d) => d.reason),
      ['invalid'],
    );
    assert.ok(
      gaugeMs < encodeMs / 4,
      `gauge() took ${gaugeMs.toFixed(1)} ms, encoding the name ${encodeMs.toFixed(1)} ms`,
    );
  });

  it('reports_input_whose_getters_throw_as_invalid', () => {
    const r = recorder();
    const client = createMetricsClient({ ...base, fetch: fakeFetch().fetch, ...r });
    const input = {
      name: 'a',
      value: 1,
      get tags() {
        throw new Error('getter');
      },
    };
    assert.doesNotThrow(() => client.record(input));
    assert.deepEqual(
      r.drops.map((d) => [d.reason, d.message]),
      [['invalid', 'Error: getter']],
    );
  });
});

describe('finding 9: numeric and boolean tag values', () => {
  it('are_sent_as_strings_instead_of_dropping_the_metric', async () => {
    const r = recorder();
    const f = fakeFetch();
    const client = createMetricsClient({ ...base, tags: { build: 42 }, fetch: f.fetch, ...r });
    client.gauge('a', 1, { status: 200, cached: false, ratio: 0.5, big: 2n ** 70n, gone: undefined });
    assert.equal(await client.flush(), true);
    assert.deepEqual(r.drops, []);
    assert.deepEqual(f.calls[0].metrics[0].tags, {
      build: '42',
      status: '200',
      cached: 'false',
      ratio: '0.5',
      big: '1180591620717411303424',
    });
  });
});

describe('answers a hostile server or proxy may give', () => {
  const answers = [
    [
      'a 200 whose rejected list holds null, strings, unknown and repeated indexes',
      200,
      {
        accepted: 1,
        rejected: [
          null,
          'x',
          { index: 7 },
          { index: 1, field: 'name', error: 'bad' },
          { index: 1, field: 'name', error: 'bad' },
        ],
      },
    ],
    ['a 200 whose rejected is not a list', 200, { accepted: 2, rejected: { index: 0 } }],
    ['a 200 with a body that is not JSON', 200, 'not json'],
    ['a 400 whose details are not a list', 400, { error: { code: 'x', details: { index: 0 } } }],
    [
      'a 400 whose details hold null',
      400,
      { error: { code: 'x', details: [null, { index: 0, field: 'value', error: 'no' }] } },
    ],
    ['a 400 whose error is a number', 400, { error: 5 }],
    ['a 204 with no body', 204, null],
  ];
  for (const [what, status, body] of answers) {
    it(`settles_every_metric_exactly_once_for_${what.replaceAll(' ', '_')}`, async () => {
      const r = recorder();
      const fetch = async () =>
        new Response(status == 204 ? null : typeof body == 'string' ? body : JSON.stringify(body), { status });
      const client = createMetricsClient({ ...base, fetch, ...r });
      client.gauge('a', 1);
      client.gauge('b', 2);
      assert.equal(await client.flush(), true);
      const s = client.stats();
      assert.equal(s.queued, 0);
      assert.equal(s.sent + s.dropped + s.rejected, 2, JSON.stringify(s));
      assert.equal(r.drops.length, s.dropped + s.rejected);
      assert.equal(new Set(r.drops.map((d) => d.metric.name)).size, r.drops.length);
    });
  }
});
