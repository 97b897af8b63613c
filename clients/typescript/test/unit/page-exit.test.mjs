// Page exit with several clients and copies of the SDK (finding 1), the stored copy's life
// (finding 4) and the ingest key on every way out of the page.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { afterEach, describe, it } from 'node:test';
import { createMetricsClient } from '../../dist/esm/index.js';
import { installBrowser, KEEPALIVE, names, record } from '../support/fake-browser.mjs';
import { base, fakeFetch, ok, pending, settle } from '../support/fake-fetch.mjs';

const require = createRequire(import.meta.url);
const cjs = require('../../dist/cjs/index.js');

const hold = { maxBatchSize: 1000, maxBatchBytes: 1_048_576, flushIntervalMs: 3_600_000 };
const keyOf = (app) => `mca:http://metrics.test/api/v2/app/${app}/metrics`;

describe('finding 1: one keepalive budget per page', () => {
  let page;
  afterEach(() => page?.uninstall());

  it('is_shared_by_two_clients_from_two_copies_of_the_sdk_and_what_does_not_fit_is_persisted', async () => {
    page = installBrowser({ beacon: () => false });
    const fa = fakeFetch(pending);
    const fb = fakeFetch(pending);
    // App A from the ES module build, app B from the CommonJS build: two copies of the code.
    const a = createMetricsClient({ ...base, ...hold, appId: 'A', persist: true, fetch: fa.fetch });
    const b = cjs.createMetricsClient({ ...base, ...hold, appId: 'B', persist: true, fetch: fb.fetch });
    record(a, 90, 400, 'a'); // about 45 KB each
    record(b, 90, 400, 'b');
    page.fire('pagehide');
    const calls = [...fa.calls, ...fb.calls];
    const inFlight = calls.reduce((n, c) => n + c.bytes, 0);
    assert.ok(inFlight <= 65536, `${inFlight} keepalive body bytes in flight`);
    assert.ok(calls.every((c) => c.init.keepalive));
    assert.deepEqual(globalThis[KEEPALIVE], { bytes: inFlight, requests: calls.length });
    // Everything is stored, the requests in flight included: their answer may never come.
    assert.deepEqual(
      names(JSON.parse(page.storage.get(keyOf('A')))),
      Array.from({ length: 90 }, (_, i) => 'a' + i),
    );
    assert.equal(JSON.parse(page.storage.get(keyOf('B'))).length, 90);
  });

  it('releases_the_budget_when_a_keepalive_request_is_answered', async () => {
    page = installBrowser();
    let answer;
    const f = fakeFetch((call) => new Promise((r) => (answer = () => r(ok(call.metrics.length)))));
    const client = createMetricsClient({ ...base, ...hold, fetch: f.fetch });
    record(client, 10);
    client.flush();
    assert.equal(globalThis[KEEPALIVE].requests, 1);
    answer();
    await settle();
    assert.deepEqual(globalThis[KEEPALIVE], { bytes: 0, requests: 0 });
  });

  it('sends_a_refused_keepalive_request_again_without_keepalive_while_the_page_lives', async () => {
    page = installBrowser();
    // The host page's own beacons used the budget: the browser refuses our keepalive request.
    const f = fakeFetch((call) =>
      call.init.keepalive ? Promise.reject(new TypeError('Failed to fetch')) : ok(call.metrics.length),
    );
    const client = createMetricsClient({ ...base, ...hold, persist: true, fetch: f.fetch });
    record(client, 5);
    page.visibility('hidden');
    await settle();
    assert.deepEqual(
      f.calls.map((c) => c.init.keepalive),
      [true, false],
    );
    assert.equal(client.stats().sent, 5);
    assert.equal(page.storage.size, 0, 'delivered: nothing left stored');
  });
});

describe('finding 4: the stored copy', () => {
  let page;
  afterEach(() => page?.uninstall());

  it('is_cleared_when_what_was_persisted_on_hide_is_delivered_while_hidden', async () => {
    page = installBrowser({ beacon: () => false });
    let answer = [];
    const f = fakeFetch((call) => new Promise((r) => answer.push(() => r(ok(call.metrics.length)))));
    const client = createMetricsClient({ ...base, ...hold, persist: true, fetch: f.fetch });
    record(client, 277);
    page.visibility('hidden');
    assert.equal(JSON.parse(page.storage.get(keyOf('web-app'))).length, 277);
    answer.forEach((a) => a());
    await settle();
    assert.equal(client.stats().sent, 277);
    assert.equal(page.storage.size, 0);
    page.fire('pagehide');
    assert.equal(page.storage.size, 0);
    // The next load sends nothing again.
    const next = fakeFetch();
    const reloaded = createMetricsClient({ ...base, persist: true, fetch: next.fetch });
    assert.equal(await reloaded.flush(), true);
    assert.equal(next.calls.length, 0);
  });

  it('keeps_only_what_is_still_unanswered_after_part_is_delivered', async () => {
    page = installBrowser({ beacon: () => false });
    const answers = [];
    const f = fakeFetch((call) => new Promise((r) => answers.push(() => r(ok(call.metrics.length)))));
    const client = createMetricsClient({ ...base, ...hold, keepaliveBytes: 20_000, persist: true, fetch: f.fetch });
    record(client, 300, 100);
    page.visibility('hidden');
    assert.ok(answers.length >= 2);
    answers[0]();
    await settle();
    const stored = names(JSON.parse(page.storage.get(keyOf('web-app'))));
    const first = names(f.calls[0].metrics);
    assert.equal(stored.length, 300 - first.length);
    assert.ok(first.every((n) => !stored.includes(n)));
  });
});

describe('close() in a hidden page with persist', () => {
  let page;
  afterEach(() => page?.uninstall());

  it('clears_the_stored_copy_of_what_it_reports_as_dropped', async () => {
    page = installBrowser({ beacon: () => false });
    const f = fakeFetch(pending);
    const drops = [];
    const client = createMetricsClient({
      ...base,
      ...hold,
      persist: true,
      fetch: f.fetch,
      onDrop: (m, reason) => drops.push(reason),
    });
    record(client, 4);
    page.visibility('hidden');
    assert.equal(JSON.parse(page.storage.get(keyOf('web-app'))).length, 4);
    assert.equal(await client.close({ timeoutMs: 0 }), false);
    assert.deepEqual(drops, ['closed', 'closed', 'closed', 'closed']);
    assert.equal(page.storage.size, 0);
  });
});

describe('apiKey', () => {
  let page;
  afterEach(() => page?.uninstall());

  it('goes_in_the_authorization_header_of_every_fetch_including_keepalive_at_page_exit', async () => {
    page = installBrowser();
    const f = fakeFetch();
    const client = createMetricsClient({ ...base, ...hold, apiKey: 'k_123-abc', fetch: f.fetch });
    record(client, 3);
    await client.flush();
    record(client, 2);
    page.fire('pagehide');
    await settle();
    assert.deepEqual(
      f.calls.map((c) => [c.url, c.init.keepalive, c.init.headers.Authorization]),
      [
        ['http://metrics.test/api/v2/app/web-app/metrics', true, 'Bearer k_123-abc'],
        ['http://metrics.test/api/v2/app/web-app/metrics', true, 'Bearer k_123-abc'],
      ],
    );
  });

  it('goes_in_the_api_key_query_parameter_of_a_beacon_which_cannot_carry_headers', async () => {
    page = installBrowser();
    const saved = globalThis.Request;
    globalThis.Request = undefined; // no keepalive fetch: the beacon is the way out
    try {
      const f = fakeFetch();
      const client = createMetricsClient({ ...base, ...hold, apiKey: 'k/1+2', fetch: f.fetch });
      record(client, 3);
      page.fire('pagehide');
      assert.equal(f.calls.length, 0);
      assert.deepEqual(
        page.beacons.map((b) => b.url),
        ['http://metrics.test/api/v2/app/web-app/metrics?api_key=k%2F1%2B2'],
      );
    } finally {
      globalThis.Request = saved;
    }
  });

  it('is_absent_from_requests_of_a_client_without_one', async () => {
    const f = fakeFetch();
    const client = createMetricsClient({ ...base, fetch: f.fetch });
    client.gauge('a', 1);
    await client.flush();
    assert.equal('Authorization' in f.calls[0].init.headers, false);
  });
});
