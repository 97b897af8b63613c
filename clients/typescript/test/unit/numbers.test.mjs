// Numbers the service cannot parse must not fail a whole batch (finding 3), and a whole-body 400
// is bisected until the bad items are alone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetricsClient } from '../../dist/esm/index.js';
import { base, error, fakeFetch, ok, recorder } from '../support/fake-fetch.mjs';

/** Integer literals in JSON text that a parser with 64-bit integers refuses (more than 19 digits). */
const longIntegers = (text) => text.match(/(?<![\d.eE+-])-?\d{20,}(?![\d.eE])/g) || [];

describe('finding 3: a value of 2**64', () => {
  it('is_written_as_a_double_a_64_bit_parser_accepts_and_reads_back_as_the_same_number', async () => {
    const f = fakeFetch();
    const client = createMetricsClient({ ...base, fetch: f.fetch });
    client.gauge('x', 2 ** 64);
    client.gauge('y', -(2 ** 70));
    client.gauge('z', 2 ** 53);
    client.gauge('w', 75.5);
    assert.equal(await client.flush(), true);
    const text = f.calls[0].init.body;
    assert.deepEqual(longIntegers(text), [], text);
    assert.match(text, /"value":1\.8446744073709552e\+19/);
    assert.deepEqual(
      f.calls[0].metrics.map((m) => m.value),
      [2 ** 64, -(2 ** 70), 2 ** 53, 75.5],
    );
    assert.match(text, /"value":9007199254740992,/, 'integers JavaScript holds exactly stay integers');
  });

  it('does_not_make_the_other_99_metrics_of_the_batch_fail', async () => {
    // A server that, like the service, refuses the whole body for an integer beyond 64 bits.
    const r = recorder();
    const f = fakeFetch((call) =>
      longIntegers(call.init.body).length
        ? error(400, 'invalid_json', {}, [{ field: 'body', error: 'number out of range' }])
        : ok(call.metrics.length),
    );
    const client = createMetricsClient({ ...base, fetch: f.fetch, ...r });
    for (let i = 0; i < 100; i++) client.gauge('m' + i, i == 50 ? 2 ** 64 : i);
    assert.equal(await client.flush(), true);
    assert.deepEqual(r.drops, []);
    assert.deepEqual(client.stats(), { sent: 100, dropped: 0, rejected: 0, queued: 0 });
  });
});

describe('a 400 for the whole body', () => {
  it('is_bisected_until_the_bad_items_are_alone_and_only_they_are_reported', async () => {
    // Whatever the client cannot foresee (here: a name the server's parser chokes on) fails the
    // whole body with no per-item details.
    const r = recorder();
    const f = fakeFetch((call) =>
      call.metrics.some((m) => m.name.startsWith('bad'))
        ? error(400, 'invalid_json', {}, [{ field: 'body', error: 'cannot parse' }])
        : ok(call.metrics.length),
    );
    const client = createMetricsClient({ ...base, fetch: f.fetch, maxBatchSize: 100, ...r });
    for (let i = 0; i < 100; i++) client.gauge(i == 17 || i == 80 ? 'bad' + i : 'm' + i, i);
    assert.equal(await client.flush(), true);
    assert.deepEqual(
      r.drops.map((d) => [d.metric.name, d.reason, d.message]),
      [
        ['bad17', 'rejected', 'invalid_json'],
        ['bad80', 'rejected', 'invalid_json'],
      ],
    );
    assert.deepEqual(client.stats(), { sent: 98, dropped: 0, rejected: 2, queued: 0 });
    // Two bad items among 100: at most 2 * 2 * log2(100) + 1 requests.
    assert.ok(f.calls.length <= 29, `${f.calls.length} requests`);
  });
});
