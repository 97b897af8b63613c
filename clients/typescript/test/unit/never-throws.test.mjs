import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetricsClient } from '../../dist/esm/index.js';
import { base, fakeFetch, recorder } from '../support/fake-fetch.mjs';

describe('never throws into the host application', () => {
  it('catches_an_on_drop_callback_that_throws_and_reports_it_to_on_error', () => {
    const errors = [];
    const boom = new Error('onDrop bug');
    const client = createMetricsClient({
      ...base,
      fetch: fakeFetch().fetch,
      onDrop: () => {
        throw boom;
      },
      onError: (e) => errors.push(e),
    });
    assert.doesNotThrow(() => client.gauge('', 1));
    assert.deepEqual(errors, [boom]);
    assert.equal(client.stats().rejected, 1);
  });

  it('swallows_an_on_error_callback_that_throws', async () => {
    const f = fakeFetch(() => {
      throw new TypeError('offline');
    });
    const client = createMetricsClient({
      ...base,
      fetch: f.fetch,
      onDrop: () => {
        throw new Error('a');
      },
      onError: () => {
        throw new Error('b');
      },
    });
    assert.doesNotThrow(() => client.gauge('', 1));
    client.gauge('a', 1);
    assert.equal(await client.flush(), false);
  });

  it('accepts_any_garbage_as_input_without_throwing', async () => {
    const r = recorder();
    const client = createMetricsClient({ ...base, fetch: fakeFetch().fetch, ...r });
    const cyclic = {};
    cyclic.self = cyclic;
    const bad = [
      undefined,
      null,
      1,
      'x',
      Symbol('s'),
      {},
      { name: Symbol('n'), value: 1 },
      { name: 'a', value: 1n },
      { name: 'a', value: 1, tags: cyclic },
      { name: 'a', value: 1, tags: { k: cyclic } },
    ];
    for (const b of bad) assert.doesNotThrow(() => client.record(b));
    assert.doesNotThrow(() => client.gauge(undefined, undefined, undefined));
    assert.doesNotThrow(() => client.gauge('a', 1, 'tags'));
    assert.equal(await client.flush(), true);
    assert.equal(client.stats().queued, 0);
  });

  it('survives_a_fetch_that_throws_synchronously_or_resolves_to_something_that_is_not_a_response', async () => {
    const r = recorder();
    let n = 0;
    const fetch = () => {
      if (n++ == 0) throw new Error('sync throw');
      return Promise.resolve({});
    };
    const client = createMetricsClient({ ...base, fetch, ...r });
    client.gauge('a', 1);
    assert.equal(await client.flush(), false);
    assert.doesNotThrow(() => client.gauge('b', 1));
    await assert.doesNotReject(client.flush());
    // One error per failed request, each naming how the fetch failed; nothing dropped yet.
    assert.deepEqual(
      r.errors.map((e) => e.message),
      ['network error: sync throw', 'network error: fetch resolved to object'],
    );
    assert.deepEqual(r.drops, []);
    await assert.doesNotReject(client.close());
  });

  it('gives_a_disabled_client_for_missing_options_that_drops_each_metric_once', async () => {
    const r = recorder();
    const client = createMetricsClient({ ...r });
    assert.doesNotThrow(() => client.gauge('a', 1));
    assert.equal(await client.flush(), true);
    assert.deepEqual(
      r.errors.map((e) => [e.message, e.code]),
      [['client disabled: endpoint must be a URL string', 'invalid_option']],
    );
    assert.deepEqual(r.drops, [
      {
        metric: { name: 'a', value: 1, tags: undefined },
        reason: 'disabled',
        message: 'endpoint must be a URL string',
      },
    ]);
    assert.deepEqual(client.stats(), { sent: 0, dropped: 1, rejected: 0, queued: 0 });
  });

  it('keeps_the_metric_queued_and_reports_one_error_when_no_fetch_is_available', async () => {
    const saved = globalThis.fetch;
    globalThis.fetch = undefined;
    try {
      const r = recorder();
      const client = createMetricsClient({ ...base, closeTimeoutMs: 100, ...r });
      assert.doesNotThrow(() => client.gauge('a', 1));
      assert.equal(await client.flush(), false);
      assert.equal(r.errors.length, 1);
      assert.match(r.errors[0].message, /^network error: /);
      assert.deepEqual(r.drops, []);
      assert.deepEqual(client.stats(), { sent: 0, dropped: 0, rejected: 0, queued: 1 });
      // close() gives up at its deadline: the metric is dropped once, as closed.
      await assert.doesNotReject(client.close());
      assert.deepEqual(
        r.drops.map((d) => [d.metric.name, d.reason]),
        [['a', 'closed']],
      );
      assert.deepEqual(client.stats(), { sent: 0, dropped: 1, rejected: 0, queued: 0 });
    } finally {
      globalThis.fetch = saved;
    }
  });

  it('reports_an_invalid_app_id_answered_400_once_per_metric_without_bisecting', async () => {
    const r = recorder();
    const f = fakeFetch(
      () =>
        new Response(
          JSON.stringify({
            error: { code: 'invalid_app_id', message: 'bad', details: [{ field: 'app_id', error: 'must match' }] },
          }),
          { status: 400 },
        ),
    );
    const client = createMetricsClient({ ...base, fetch: f.fetch, ...r });
    client.gauge('a', 1);
    client.gauge('b', 1);
    await client.flush();
    assert.equal(f.calls.length, 1);
    assert.deepEqual(
      r.drops.map((d) => [d.reason, d.message]),
      [
        ['rejected', 'invalid_app_id'],
        ['rejected', 'invalid_app_id'],
      ],
    );
  });
});
