// Time bounds against a server that never answers or asks for absurd delays (findings 2 and 7).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { createMetricsClient, MAX_RETRY_AFTER_MS } from '../../dist/esm/index.js';
import { advance, base, error, fakeFetch, ok, recorder, refusedOnce, settle } from '../support/fake-fetch.mjs';

/**
 * A real HTTP server on 127.0.0.1 that reads each request and answers 200, except the requests
 * `hang(n)` says to leave unanswered (the connection stays open, nothing is written).
 */
async function startServer(hang) {
  const received = [];
  const sockets = new Set();
  let n = 0;
  const server = createServer((req, res) => {
    const i = n++;
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (hang(i)) return;
      const metrics = JSON.parse(body).metrics;
      received.push(...metrics.map((m) => m.name));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ accepted: metrics.length, rejected: [] }));
    });
  });
  server.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${server.address().port}`,
    received,
    requests: () => n,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

/** Calls `start`; resolves with its promise's value and how long it took, or `{ pending: true }` after `ms`. */
async function timed(start, ms) {
  const t0 = Date.now();
  const promise = start();
  let timer;
  const result = await Promise.race([
    promise.then((value) => ({ value })),
    new Promise((r) => (timer = setTimeout(() => r({ pending: true }), ms))),
  ]);
  clearTimeout(timer);
  return { ...result, ms: Date.now() - t0 };
}

describe('finding 2: a server that accepts the connection and never answers', () => {
  let server;
  afterEach(() => server?.close());

  it('close_resolves_by_its_deadline_and_reports_what_was_in_flight_as_closed', async () => {
    server = await startServer(() => true);
    const r = recorder();
    const client = createMetricsClient({ ...base, endpoint: server.endpoint, ...r });
    client.gauge('a', 1);
    const { pending, value, ms } = await timed(() => client.close({ timeoutMs: 1000 }), 15_000);
    assert.notEqual(pending, true, 'close({ timeoutMs: 1000 }) still pending after 15 s');
    assert.equal(value, false);
    assert.ok(ms >= 900 && ms < 5000, `close() took ${ms} ms`);
    assert.deepEqual(
      r.drops.map((d) => [d.metric.name, d.reason]),
      [['a', 'closed']],
    );
    assert.deepEqual(client.stats(), { sent: 0, dropped: 1, rejected: 0, queued: 0 });
  });

  it('close_timeout_ms_of_the_client_is_the_default_deadline_of_close_and_flush', async () => {
    server = await startServer(() => true);
    const client = createMetricsClient({ ...base, endpoint: server.endpoint, closeTimeoutMs: 1000 });
    client.gauge('a', 1);
    const flushed = await timed(() => client.flush(), 15_000);
    assert.notEqual(flushed.pending, true, 'flush() still pending after 15 s');
    assert.equal(flushed.value, false);
    const closed = await timed(() => client.close(), 15_000);
    assert.notEqual(closed.pending, true, 'close() still pending after 15 s');
    assert.ok(closed.ms < 5000, `close() took ${closed.ms} ms`);
  });

  it('keeps_draining_through_a_second_connection_while_the_first_request_hangs', async () => {
    server = await startServer((i) => i == 0);
    const r = recorder();
    const client = createMetricsClient({
      ...base,
      endpoint: server.endpoint,
      maxBatchSize: 100,
      requestTimeoutMs: 2000,
      retryBaseDelayMs: 50,
      maxRetryDelayMs: 200,
      ...r,
    });
    // 1,500 gauges over about 3 s, as in the finding.
    for (let i = 0; i < 1500; i++) {
      client.gauge('m' + i, i);
      if (i % 50 == 49) await new Promise((res) => setTimeout(res, 100));
    }
    assert.deepEqual(
      r.drops.filter((d) => d.reason == 'queue_full'),
      [],
    );
    // The hung request times out after 2 s and its batch is sent again.
    assert.equal(await client.close({ timeoutMs: 20_000 }), true);
    assert.deepEqual(r.drops, []);
    assert.equal(new Set(server.received).size, 1500);
    assert.ok(
      r.errors.some((e) => /no answer within 2000 ms/.test(e.message)),
      r.errors.map((e) => e.message).join('\n'),
    );
  });

  it('aborts_a_request_after_request_timeout_ms_and_retries_it', async () => {
    server = await startServer((i) => i == 0);
    const r = recorder();
    const client = createMetricsClient({ ...base, endpoint: server.endpoint, requestTimeoutMs: 300, ...r });
    client.gauge('a', 1);
    assert.equal(await client.flush(), false);
    assert.match(r.errors[0].message, /no answer within 300 ms/);
    assert.equal(await client.close(), true);
    assert.deepEqual(server.received, ['a']);
  });
});

describe('finding 7: Retry-After beyond what setTimeout can hold', () => {
  it('waits_instead_of_retrying_in_a_loop_after_retry_after_3000000', async () => {
    const f = fakeFetch(() => error(503, 'unavailable', { 'Retry-After': '3000000' }));
    const client = createMetricsClient({ ...base, fetch: f.fetch });
    client.gauge('a', 1);
    client.flush();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(f.calls.length, 1, `${f.calls.length} requests in 500 ms`);
    await client.close({ timeoutMs: 0 });
  });

  describe('with a fake clock', () => {
    beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_700_000_000_000 }));
    afterEach(() => {
      mock.timers.reset();
      mock.restoreAll();
    });

    for (const [random, expected] of [
      [0, MAX_RETRY_AFTER_MS],
      [0.999, MAX_RETRY_AFTER_MS * 1.1998],
    ]) {
      it(`caps_the_wait_at_${MAX_RETRY_AFTER_MS}_ms_plus_up_to_20_percent_jitter_random_${random}`, async () => {
        mock.method(Math, 'random', () => random);
        const f = fakeFetch(refusedOnce(429, 'rate_limited', '3000000'));
        const client = createMetricsClient({ ...base, fetch: f.fetch });
        client.gauge('a', 1);
        client.flush();
        await settle();
        await advance(Math.floor(expected) - 1);
        assert.equal(f.calls.length, 1);
        await advance(2);
        assert.equal(f.calls.length, 2);
        assert.equal(client.stats().sent, 1);
      });
    }

    it('spreads_clients_told_the_same_retry_after_over_up_to_20_percent_more', async () => {
      mock.method(Math, 'random', () => 0.5);
      const f = fakeFetch(refusedOnce(503, 'unavailable', '10'));
      const client = createMetricsClient({ ...base, fetch: f.fetch });
      client.gauge('a', 1);
      client.flush();
      await settle();
      await advance(10_999);
      assert.equal(f.calls.length, 1);
      await advance(1);
      assert.equal(f.calls.length, 2);
    });
  });
});
