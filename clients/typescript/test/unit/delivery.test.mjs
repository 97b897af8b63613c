import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { createMetricsClient } from '../../dist/esm/index.js';
import {
  base,
  error,
  fakeFetch,
  json,
  ok,
  recordedClient,
  recorder,
  refusedOnce,
  settle,
} from '../support/fake-fetch.mjs';

const NOW = 1_700_000_000_000;

/** Advances fake time in steps and returns the fake-clock times at which fetch was called. */
async function callTimes(f, until, step = 10) {
  for (let t = 0; t < until; t += step) {
    mock.timers.tick(step);
    await settle(3);
  }
  return f.calls.map((c) => c.at - NOW);
}

function timedFetch(respond) {
  const f = fakeFetch((call, i) => {
    call.at = Date.now();
    return respond(call, i);
  });
  return f;
}

describe('queue bound', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: NOW }));
  afterEach(() => mock.timers.reset());

  it('drops_the_oldest_metrics_first_and_reports_each_as_queue_full', async () => {
    const r = recorder();
    const f = fakeFetch();
    const client = createMetricsClient({ ...base, fetch: f.fetch, maxQueueSize: 3, maxBatchSize: 100, ...r });
    for (let i = 0; i < 5; i++) client.gauge('m' + i, i);
    assert.deepEqual(
      r.drops.map((d) => [d.metric.name, d.reason]),
      [
        ['m0', 'queue_full'],
        ['m1', 'queue_full'],
      ],
    );
    await client.flush();
    assert.deepEqual(
      f.calls[0].metrics.map((m) => m.name),
      ['m2', 'm3', 'm4'],
    );
    assert.deepEqual(client.stats(), { sent: 3, dropped: 2, rejected: 0, queued: 0 });
  });

  it('puts_a_failed_batch_back_in_front_so_it_is_the_first_dropped_when_the_queue_overflows', async () => {
    const r = recorder();
    const f = fakeFetch(() => error(503, 'unavailable', { 'retry-after': '60' }));
    const client = createMetricsClient({ ...base, fetch: f.fetch, maxQueueSize: 4, maxBatchSize: 2, ...r });
    client.gauge('a', 1);
    client.gauge('b', 1);
    await settle();
    assert.equal(f.calls.length, 1);
    for (const n of ['c', 'd', 'e']) client.gauge(n, 1);
    assert.deepEqual(
      r.drops.map((d) => d.metric.name),
      ['a'],
    );
    assert.equal(client.stats().queued, 4);
  });
});

describe('retries', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: NOW }));
  afterEach(() => {
    mock.timers.reset();
    mock.restoreAll();
  });

  it('retries_network_errors_with_exponential_backoff_capped_at_max_retry_delay', async () => {
    mock.method(Math, 'random', () => 0.999999);
    const f = timedFetch(() => {
      throw new TypeError('fetch failed');
    });
    const r = recorder();
    const client = createMetricsClient({ ...base, fetch: f.fetch, retryBaseDelayMs: 100, maxRetryDelayMs: 1000, ...r });
    client.gauge('a', 1);
    client.flush();
    await settle();
    const times = await callTimes(f, 4000);
    // Random at its top: delays of 100, 200, 400, 800, then capped at 1000.
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    assert.deepEqual(gaps.slice(0, 6), [100, 200, 400, 800, 1000, 1000]);
    assert.ok(r.errors.every((e) => /network error/.test(e.message)));
    assert.equal(client.stats().queued, 1);
  });

  it('draws_each_backoff_uniformly_below_the_exponential_cap_full_jitter', async () => {
    mock.method(Math, 'random', () => 0.25);
    const f = timedFetch(() => Promise.reject(new TypeError('fetch failed')));
    const client = createMetricsClient({ ...base, fetch: f.fetch, retryBaseDelayMs: 400, maxRetryDelayMs: 100_000 });
    client.gauge('a', 1);
    client.flush();
    await settle();
    const times = await callTimes(f, 2000);
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    assert.deepEqual(gaps.slice(0, 3), [100, 200, 400]);
  });

  it('stops_retrying_and_delivers_once_the_server_answers_200', async () => {
    mock.method(Math, 'random', () => 0.5);
    const f = fakeFetch((call, i) => (i < 3 ? error(503, 'unavailable') : ok(call.metrics.length)));
    const client = createMetricsClient({ ...base, fetch: f.fetch, retryBaseDelayMs: 100 });
    client.gauge('a', 1);
    client.flush();
    for (let i = 0; i < 200; i++) {
      mock.timers.tick(10);
      await settle(3);
    }
    assert.equal(f.calls.length, 4);
    assert.deepEqual(client.stats(), { sent: 1, dropped: 0, rejected: 0, queued: 0 });
  });

  /**
   * Sends one metric that the first request answers with `status`/`code` and `Retry-After:
   * retryAfter`; checks nothing is sent again before `afterMs - 10` and returns the request times.
   */
  async function retriedAfter(status, code, retryAfter, afterMs) {
    mock.method(Math, 'random', () => 0);
    const f = timedFetch(refusedOnce(status, code, retryAfter));
    const client = createMetricsClient({ ...base, fetch: f.fetch });
    client.gauge('a', 1);
    client.flush();
    await settle();
    await callTimes(f, afterMs - 10);
    assert.equal(f.calls.length, 1);
    return callTimes(f, 20);
  }

  it('honours_retry_after_in_seconds_on_503', async () => {
    assert.deepEqual(await retriedAfter(503, 'unavailable', '7', 7000), [0, 7000]);
  });

  it('honours_retry_after_as_an_http_date_on_429', async () => {
    const when = new Date(NOW + 12_000).toUTCString();
    assert.deepEqual(await retriedAfter(429, 'rate_limited', when, 12_000), [0, 12_000]);
  });

  it('does_not_retry_a_400_and_reports_each_item_as_rejected_with_the_server_reason', async () => {
    const r = recorder();
    const f = fakeFetch(() =>
      error(400, 'no_valid_metrics', {}, [
        { index: 0, field: 'value', error: 'must be a number' },
        { index: 1, field: 'name', error: 'too long' },
      ]),
    );
    const client = createMetricsClient({ ...base, fetch: f.fetch, ...r });
    client.gauge('a', 1);
    client.gauge('b', 2);
    assert.equal(await client.flush(), true);
    await callTimes(f, 60_000, 1000);
    assert.equal(f.calls.length, 1);
    assert.deepEqual(
      r.drops.map((d) => [d.metric.name, d.reason, d.message]),
      [
        ['a', 'rejected', 'value: must be a number'],
        ['b', 'rejected', 'name: too long'],
      ],
    );
    assert.equal(r.errors[0].status, 400);
    assert.equal(r.errors[0].code, 'no_valid_metrics');
    assert.deepEqual(client.stats(), { sent: 0, dropped: 0, rejected: 2, queued: 0 });
  });

  it('splits_a_batch_in_halves_on_413_batch_too_large_and_sends_every_metric', async () => {
    const f = fakeFetch((call) => (call.metrics.length > 3 ? error(413, 'batch_too_large') : ok(call.metrics.length)));
    const client = createMetricsClient({ ...base, fetch: f.fetch, maxBatchSize: 10 });
    for (let i = 0; i < 10; i++) client.gauge('m' + i, i);
    assert.equal(await client.flush(), true);
    const sizes = f.calls.map((c) => c.metrics.length);
    assert.deepEqual(sizes.slice(0, 3), [10, 5, 5]);
    assert.ok(
      sizes.slice(3).every((n) => n <= 3),
      sizes.join(),
    );
    // Two requests may be in flight, so the halves can arrive in either order: every metric, once.
    const delivered = f.calls.filter((c) => c.metrics.length <= 3).flatMap((c) => c.metrics.map((m) => m.name));
    assert.deepEqual(delivered.sort(), Array.from({ length: 10 }, (_, i) => 'm' + i).sort());
    assert.deepEqual(client.stats(), { sent: 10, dropped: 0, rejected: 0, queued: 0 });
  });

  it('drops_and_reports_a_single_metric_answered_413_payload_too_large_without_retry', async () => {
    const { client, f, r } = recordedClient(() => error(413, 'payload_too_large'));
    client.gauge('huge', 1);
    assert.equal(await client.flush(), true);
    await callTimes(f, 60_000, 1000);
    assert.equal(f.calls.length, 1);
    assert.deepEqual(
      r.drops.map((d) => [d.metric.name, d.reason]),
      [['huge', 'too_large']],
    );
    assert.equal(client.stats().dropped, 1);
  });

  it('reports_items_a_200_lists_as_rejected_and_does_not_retry_them', async () => {
    const { client, f, r } = recordedClient(() => ok(2, [{ index: 1, field: 'tags', error: 'too many tags' }]));
    for (const n of ['a', 'b', 'c']) client.gauge(n, 1);
    assert.equal(await client.flush(), true);
    await callTimes(f, 60_000, 1000);
    assert.equal(f.calls.length, 1);
    assert.deepEqual(
      r.drops.map((d) => [d.metric.name, d.reason, d.message]),
      [['b', 'rejected', 'tags: too many tags']],
    );
    assert.deepEqual(client.stats(), { sent: 2, dropped: 0, rejected: 1, queued: 0 });
  });

  it('drops_a_batch_answered_with_a_non_retryable_status_as_http_error', async () => {
    const { client, f, r } = recordedClient(() => error(404, 'not_found'));
    client.gauge('a', 1);
    await client.flush();
    assert.deepEqual(
      r.drops.map((d) => d.reason),
      ['http_error'],
    );
    assert.equal(client.stats().dropped, 1);
  });

  it('close_retries_until_close_timeout_then_drops_what_is_left_as_closed', async () => {
    mock.method(Math, 'random', () => 0.999999);
    const r = recorder();
    const f = timedFetch(() => error(503, 'unavailable'));
    const client = createMetricsClient({ ...base, fetch: f.fetch, retryBaseDelayMs: 100, closeTimeoutMs: 1000, ...r });
    client.gauge('a', 1);
    let closed;
    client.close().then((v) => (closed = v));
    await settle();
    await callTimes(f, 1500);
    assert.equal(closed, false);
    assert.deepEqual(
      f.calls.map((c) => c.at - NOW),
      [0, 100, 300, 700, 1000],
    );
    assert.deepEqual(
      r.drops.map((d) => d.reason),
      ['closed'],
    );
  });
});
