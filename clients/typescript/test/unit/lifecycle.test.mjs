import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { createMetricsClient } from '../../dist/esm/index.js';
import { installBrowser, names, record } from '../support/fake-browser.mjs';
import { advance, base, fakeFetch, ok, pending, recorder, settle } from '../support/fake-fetch.mjs';

const KIB64 = 65536;
// Nothing leaves before the page is hidden: no size or interval trigger.
const hold = { maxBatchSize: 1000, maxBatchBytes: 10_000_000, maxQueueSize: 1000, flushIntervalMs: 3_600_000 };

describe('page lifecycle', () => {
  let page;
  afterEach(() => {
    page && page.uninstall();
    mock.timers.reset();
    mock.restoreAll();
  });

  it('pagehide_sends_the_whole_queue_in_requests_that_each_stay_under_64_KiB', async () => {
    page = installBrowser();
    const f = fakeFetch(pending); // keepalive requests still in flight when the page goes away
    const client = createMetricsClient({ ...base, ...hold, fetch: f.fetch });
    record(client, 400, 600);
    assert.equal(f.calls.length, 0);
    page.fire('pagehide');
    const beacons = await Promise.all(
      page.beacons.map(async (b) => ({ size: b.data.size, type: b.data.type, body: JSON.parse(await b.data.text()) })),
    );
    assert.ok(f.calls.length >= 1 && beacons.length >= 1, `${f.calls.length} fetches, ${beacons.length} beacons`);
    for (const c of f.calls) {
      assert.equal(c.init.keepalive, true);
      assert.ok(c.bytes < KIB64, `fetch body of ${c.bytes} bytes`);
    }
    // The browser's 64 KiB keepalive budget is shared by all requests in flight.
    assert.ok(f.calls.reduce((n, c) => n + c.bytes, 0) <= KIB64);
    for (const b of beacons) {
      assert.ok(b.size < KIB64, `beacon of ${b.size} bytes`);
      assert.equal(b.type, 'application/json');
    }
    const all = [...f.calls.map((c) => c.metrics), ...beacons.map((b) => b.body.metrics)].flat();
    assert.deepEqual(
      names(all),
      Array.from({ length: 400 }, (_, i) => 'm' + i),
    );
    // Only the keepalive requests, still unanswered, remain unsettled.
    assert.equal(
      client.stats().queued,
      f.calls.reduce((n, c) => n + c.metrics.length, 0),
    );
  });

  it('visibilitychange_to_hidden_sends_the_queue_and_visible_does_not', async () => {
    page = installBrowser();
    const f = fakeFetch();
    const client = createMetricsClient({ ...base, ...hold, fetch: f.fetch });
    record(client, 3);
    page.visibility('visible');
    await settle();
    assert.equal(f.calls.length, 0);
    page.visibility('hidden');
    await settle();
    assert.deepEqual(
      f.calls.map((c) => [c.init.keepalive, c.metrics.length]),
      [[true, 3]],
    );
    assert.equal(client.stats().sent, 3);
  });

  it('keeps_every_metric_not_yet_acknowledged_on_pagehide_in_local_storage_and_sends_it_on_the_next_load', async () => {
    page = installBrowser({ beacon: () => false });
    const f = fakeFetch(pending);
    const client = createMetricsClient({ ...base, ...hold, persist: true, fetch: f.fetch });
    record(client, 300, 600);
    page.fire('pagehide');
    const inFlight = names(f.calls.flatMap((c) => c.metrics));
    const stored = JSON.parse(page.storage.get('mca:http://metrics.test/api/v2/app/web-app/metrics'));
    assert.ok(inFlight.length > 0 && inFlight.length < 300);
    // Persisted before the hand-over: the requests in flight too, since their answer may never come.
    assert.deepEqual(
      names(stored),
      Array.from({ length: 300 }, (_, i) => 'm' + i),
    );

    // Next page load, same origin.
    const next = fakeFetch();
    const reloaded = createMetricsClient({ ...base, persist: true, fetch: next.fetch });
    assert.equal(page.storage.size, 0);
    assert.equal(await reloaded.flush(), true);
    assert.deepEqual(names(next.calls.flatMap((c) => c.metrics)).sort(), names(stored).sort());
    assert.deepEqual(next.calls[0].metrics[0], stored[0]);
  });

  it('does_not_send_while_offline_on_hide_and_sends_when_the_online_event_fires', async () => {
    page = installBrowser({ onLine: false });
    const f = fakeFetch();
    const client = createMetricsClient({ ...base, ...hold, persist: true, fetch: f.fetch });
    record(client, 5);
    page.visibility('hidden');
    await settle();
    assert.equal(f.calls.length, 0);
    assert.equal(JSON.parse([...page.storage.values()][0]).length, 5);
    page.visibility('visible');
    assert.equal(page.storage.size, 0, 'a page shown again owns its queue again');
    page.navigator.onLine = true;
    page.fire('online');
    await settle();
    assert.deepEqual(
      f.calls.map((c) => c.metrics.length),
      [5],
    );
  });

  it('retries_at_once_when_the_online_event_fires_instead_of_waiting_for_the_backoff', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_700_000_000_000 });
    mock.method(Math, 'random', () => 0.99);
    page = installBrowser();
    // Twice: a refused keepalive request is sent again at once without keepalive.
    const f = fakeFetch((call, i) =>
      i < 2 ? Promise.reject(new TypeError('Failed to fetch')) : ok(call.metrics.length),
    );
    const r = recorder();
    const client = createMetricsClient({
      ...base,
      fetch: f.fetch,
      retryBaseDelayMs: 60_000,
      maxRetryDelayMs: 60_000,
      ...r,
    });
    client.gauge('a', 1);
    assert.equal(await client.flush(), false);
    await advance(1000);
    assert.equal(f.calls.length, 2);
    assert.deepEqual(
      f.calls.map((c) => c.init.keepalive),
      [true, false],
    );
    page.fire('online');
    await settle();
    assert.equal(f.calls.length, 3);
    assert.deepEqual(client.stats(), { sent: 1, dropped: 0, rejected: 0, queued: 0 });
  });
});

describe('page lifecycle persistence', () => {
  let page;
  afterEach(() => page && page.uninstall());

  it('stores_each_left_over_metric_once_when_both_pagehide_and_visibilitychange_fire', () => {
    page = installBrowser({ beacon: () => false });
    const f = fakeFetch(pending);
    const client = createMetricsClient({ ...base, ...hold, persist: true, fetch: f.fetch });
    record(client, 300, 600);
    page.fire('pagehide');
    page.visibility('hidden');
    const stored = names(JSON.parse([...page.storage.values()][0]));
    assert.equal(new Set(stored).size, stored.length);
    assert.equal(stored.length, 300);
  });
});
