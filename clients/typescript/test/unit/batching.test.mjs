import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { createMetricsClient } from '../../dist/esm/index.js';
import { advance, base, fakeFetch, settle } from '../support/fake-fetch.mjs';

describe('batching', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_700_000_000_000 }));
  afterEach(() => mock.timers.reset());

  it('sends_a_batch_as_soon_as_max_batch_size_metrics_are_queued', async () => {
    const f = fakeFetch();
    const client = createMetricsClient({ ...base, fetch: f.fetch, maxBatchSize: 3 });
    client.gauge('a', 1);
    client.gauge('b', 2);
    await settle();
    assert.equal(f.calls.length, 0);
    client.gauge('c', 3);
    await settle();
    assert.equal(f.calls.length, 1);
    assert.deepEqual(
      f.calls[0].metrics.map((m) => m.name),
      ['a', 'b', 'c'],
    );
  });

  it('sends_a_batch_as_soon_as_its_body_reaches_max_batch_bytes', async () => {
    const f = fakeFetch();
    const client = createMetricsClient({ ...base, fetch: f.fetch, maxBatchBytes: 1000 });
    const big = 'x'.repeat(300);
    client.gauge('a', 1, { big });
    client.gauge('b', 1, { big });
    await settle();
    assert.equal(f.calls.length, 0);
    client.gauge('c', 1, { big });
    client.gauge('d', 1, { big });
    await settle();
    assert.ok(f.calls.length >= 1);
    for (const c of f.calls) assert.ok(c.bytes <= 1000, `body of ${c.bytes} bytes`);
    // c pushed the queue past 1000 bytes; the batch takes what fits under the limit.
    assert.deepEqual(
      f.calls[0].metrics.map((m) => m.name),
      ['a', 'b'],
    );
  });

  it('sends_what_is_queued_flush_interval_after_the_first_metric', async () => {
    const f = fakeFetch();
    createMetricsClient({ ...base, fetch: f.fetch, flushIntervalMs: 2000 }).gauge('a', 1);
    await advance(1999);
    assert.equal(f.calls.length, 0);
    await advance(1);
    assert.equal(f.calls.length, 1);
  });

  it('posts_the_contract_body_with_defaults_filled_in', async () => {
    const f = fakeFetch();
    const client = createMetricsClient({ ...base, tags: { env: 'prod', host: 'h1' }, fetch: f.fetch });
    client.gauge('cpu_usage', 75.5, { host: 'h2' });
    client.record({ name: 'mem', value: 1, timestamp: 5, profileId: 'other' });
    assert.equal(await client.flush(), true);
    assert.equal(f.calls.length, 1);
    const { url, init, body } = f.calls[0];
    assert.equal(url, 'http://metrics.test/api/v2/app/web-app/metrics');
    assert.equal(init.method, 'POST');
    assert.equal(init.headers['Content-Type'], 'application/json');
    assert.deepEqual(body, {
      metrics: [
        {
          name: 'cpu_usage',
          value: 75.5,
          timestamp: 1_700_000_000_000,
          tags: { env: 'prod', host: 'h2' },
          profileId: 'user-1',
        },
        { name: 'mem', value: 1, timestamp: 5, tags: { env: 'prod', host: 'h1' }, profileId: 'other' },
      ],
    });
    assert.deepEqual(client.stats(), { sent: 2, dropped: 0, rejected: 0, queued: 0 });
  });

  it('keeps_sending_until_the_queue_is_empty_when_more_than_one_batch_is_queued', async () => {
    const f = fakeFetch();
    const client = createMetricsClient({ ...base, fetch: f.fetch, maxBatchSize: 10, flushIntervalMs: 60_000 });
    for (let i = 0; i < 25; i++) client.gauge('m' + i, i);
    await settle();
    await advance(60_000);
    assert.deepEqual(
      f.calls.map((c) => c.metrics.length),
      [10, 10, 5],
    );
    assert.equal(client.stats().sent, 25);
  });

  it('close_sends_what_is_queued_and_drops_later_records_as_closed', async () => {
    const f = fakeFetch();
    const drops = [];
    const client = createMetricsClient({ ...base, fetch: f.fetch, onDrop: (m, reason) => drops.push(reason) });
    client.gauge('a', 1);
    assert.equal(await client.close(), true);
    assert.equal(f.calls.length, 1);
    client.gauge('b', 1);
    assert.deepEqual(drops, ['closed']);
    assert.equal(client.stats().dropped, 1);
  });

  it('counts_metrics_in_a_request_not_answered_yet_as_queued', async () => {
    let answer;
    const f = fakeFetch(
      (call) =>
        new Promise(
          (r) => (answer = () => r(new Response(JSON.stringify({ accepted: 2, rejected: [] }), { status: 200 }))),
        ),
    );
    const client = createMetricsClient({ ...base, fetch: f.fetch, maxBatchSize: 2 });
    client.gauge('a', 1);
    client.gauge('b', 1);
    await settle();
    assert.equal(f.calls.length, 1);
    assert.deepEqual(client.stats(), { sent: 0, dropped: 0, rejected: 0, queued: 2 });
    answer();
    await settle();
    assert.deepEqual(client.stats(), { sent: 2, dropped: 0, rejected: 0, queued: 0 });
  });

  it('leaves_tags_out_of_the_body_when_a_metric_has_none', async () => {
    const f = fakeFetch();
    const client = createMetricsClient({ ...base, fetch: f.fetch });
    client.gauge('a', 1);
    client.gauge('b', 1, {});
    await client.flush();
    assert.deepEqual(
      f.calls[0].metrics.map((m) => 'tags' in m),
      [false, false],
    );
  });
});
