// Counters and histograms from several clients against the real service: the increments of every
// client are summed, the observations counted into the configured buckets.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_LIMITS, validateMetric } from '@metrics-collection/client';
import { clientOf, poll, samplesOf, skipReason, startService } from '../support/service.mjs';

const CLIENTS = 4;

describe('counters and histograms against the service binary', { skip: skipReason }, () => {
  let service;
  before(async () => {
    service = await startService({ env: { HISTOGRAM_BUCKETS: 'render_ms=5,10,25' } });
  });
  after(async () => {
    await service?.stop();
  });

  /** `CLIENTS` clients of `appId`, each with its own profileId, recording through `use(client, i)`. */
  async function fromClients(appId, use) {
    const made = Array.from({ length: CLIENTS }, (_, i) =>
      clientOf(service, appId, { profileId: 'browser-' + i, maxBatchSize: 3 }),
    );
    const clients = made.map((m) => m.client);
    clients.forEach(use);
    const closed = await Promise.all(clients.map((c) => c.close({ timeoutMs: 20_000 })));
    return {
      closed,
      drops: made.flatMap((m) => m.drops),
      errors: made.flatMap((m) => m.errors.map((e) => e.message)),
      stats: clients.map((c) => c.stats()),
    };
  }

  it('sums_the_counter_increments_of_several_clients_per_tag_set', async () => {
    const appId = 'sdk-counter-' + process.pid;
    // Client i adds i + 1, i + 1 times, for shop=eu, and 0.5 once for shop=us.
    const r = await fromClients(appId, (c, i) => {
      for (let k = 0; k <= i; k++) c.counter('checkouts', i + 1, { shop: 'eu' });
      c.counter('checkouts', 0.5, { shop: 'us' });
    });
    assert.deepEqual(r.closed, Array(CLIENTS).fill(true), r.errors.join('\n'));
    assert.deepEqual(r.drops, []);
    const eu = 1 + 4 + 9 + 16;
    const samples = await poll(
      async () => {
        const s = (await samplesOf(service, appId)).filter((x) => x.name == 'client_metric_checkouts_total');
        return s.length == 2 && s.find((x) => x.labels.shop == 'eu').value == eu && s;
      },
      { what: `client_metric_checkouts_total{shop="eu"} ${eu}` },
    );
    assert.deepEqual(
      samples.map((s) => [s.labels, s.value]).sort((a, b) => a[0].shop.localeCompare(b[0].shop)),
      [
        [{ app_id: appId, shop: 'eu' }, eu],
        [{ app_id: appId, shop: 'us' }, 0.5 * CLIENTS],
      ],
    );
    const text = (await service.getText('/prometheus-metrics')).body;
    assert.match(text, /^# TYPE client_metric_checkouts_total counter$/m);
  });

  it('counts_the_observations_of_several_clients_into_count_sum_and_the_configured_buckets', async () => {
    const appId = 'sdk-histogram-' + process.pid;
    const values = [1, 5, 7, 10, 10.5, 25, 26, 1000];
    // The observations are spread over the clients: client i observes values i, i + 4, ...
    const r = await fromClients(appId, (c, i) => {
      for (let k = i; k < values.length; k += CLIENTS) c.observe('render_ms', values[k], { page: '/home' });
    });
    assert.deepEqual(r.closed, Array(CLIENTS).fill(true), r.errors.join('\n'));
    assert.deepEqual(r.drops, []);
    const samples = await poll(
      async () => {
        const s = await samplesOf(service, appId);
        return s.find((x) => x.name == 'client_metric_render_ms_count')?.value == values.length && s;
      },
      { what: `client_metric_render_ms_count ${values.length}` },
    );
    const by = (name) => samples.filter((s) => s.name == name);
    assert.deepEqual(
      by('client_metric_render_ms_bucket').map((s) => [s.labels.le, s.value]),
      [
        ['5', 2],
        ['10', 4],
        ['25', 6],
        ['+Inf', 8],
      ],
    );
    assert.deepEqual(by('client_metric_render_ms_sum')[0], {
      name: 'client_metric_render_ms_sum',
      labels: { app_id: appId, page: '/home' },
      value: values.reduce((a, b) => a + b, 0),
    });
    assert.deepEqual(by('client_metric_render_ms'), [], 'no gauge of that name');
    const text = (await service.getText('/prometheus-metrics')).body;
    assert.match(text, /^# TYPE client_metric_render_ms histogram$/m);
  });

  it('reports_a_name_used_with_another_type_as_rejected_by_the_service_with_field_type', async () => {
    const appId = 'sdk-conflict-' + process.pid;
    const { client, drops } = clientOf(service, appId);
    client.gauge('cpu', 1);
    assert.equal(await client.flush(), true);
    client.counter('cpu', 1);
    client.observe('cpu', 1);
    client.counter('requests', 1);
    assert.equal(await client.close(), true);
    assert.deepEqual(
      drops.map((d) => [d.metric.name, d.metric.type, d.reason]),
      [
        ['cpu', 'counter', 'rejected'],
        ['cpu', 'histogram', 'rejected'],
      ],
    );
    for (const d of drops) assert.match(d.message, /^type: .*gauge/);
    assert.deepEqual(client.stats(), { sent: 2, dropped: 0, rejected: 2, queued: 0 });
  });

  // What the SDK refuses before sending, the service refuses too, and what it lets through is taken.
  it('validates_the_type_and_counter_increments_as_the_service_does', async () => {
    const appId = 'sdk-parity-' + process.pid;
    const now = Date.now();
    const items = [
      { type: 'counter', value: -1 },
      { type: 'counter', value: -1e-300 },
      { type: 'counter', value: 0 },
      { type: 'counter', value: 2 ** 64 },
      { type: 'histogram', value: -5 },
      { type: 'gauge', value: -5 },
      { type: 'summary', value: 1 },
      { type: 'Counter', value: 1 },
      { type: '', value: 1 },
      { type: 7, value: 1 },
      { type: ['counter'], value: 1 },
    ].map((x, i) => ({ name: 'parity_' + i, timestamp: now, profileId: 'p', ...x }));
    const res = await fetch(`${service.url}/api/v2/app/${appId}/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ metrics: items }),
    });
    assert.equal(res.status, 200);
    const { rejected } = await res.json();
    const server = items.map((_, i) => rejected.find((r) => r.index == i)?.field);
    const sdk = items.map((m) => validateMetric(m, DEFAULT_LIMITS, now)?.split(':')[0]);
    assert.deepEqual(sdk, server);
    assert.deepEqual(server, [
      'value',
      'value',
      undefined,
      undefined,
      undefined,
      undefined,
      'type',
      'type',
      'type',
      'type',
      'type',
    ]);
  });
});
