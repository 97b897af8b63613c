import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { clientOf, poll, samplesOf, skipReason, startService, storedCount } from '../support/service.mjs';

const pkgRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');

describe('client against the service binary', { skip: skipReason }, () => {
  let service;
  before(async () => {
    service = await startService();
  });
  after(async () => {
    await service?.stop();
  });

  it('delivers_gauges_that_appear_in_the_app_metrics_view_and_in_prometheus_metrics', async () => {
    const appId = 'sdk-it-' + process.pid;
    const { client, drops, errors } = clientOf(service, appId, {
      profileId: 'user-123',
      tags: { environment: 'test' },
    });
    client.gauge('cpu_usage', 75.5, { host: 'server1' });
    client.gauge('memory_usage', 1024);
    client.record({ name: 'queue_depth', value: 3, timestamp: Date.now() - 1000, profileId: 'worker-7' });
    assert.equal(await client.flush(), true, errors.map((e) => e.message).join('\n'));
    assert.deepEqual(drops, []);
    assert.deepEqual(client.stats(), { sent: 3, dropped: 0, rejected: 0, queued: 0 });

    const stored = await storedCount(service, appId, 3);
    const byName = Object.fromEntries(stored.map((m) => [m.name, m]));
    assert.equal(byName.cpu_usage.value, 75.5);
    assert.deepEqual(byName.cpu_usage.tags, { environment: 'test', host: 'server1' });
    assert.equal(byName.cpu_usage.profileId, 'user-123');
    assert.equal(byName.queue_depth.profileId, 'worker-7');

    const samples = await poll(
      async () => {
        const s = await samplesOf(service, appId);
        return s.length == 3 && s;
      },
      { what: 'the 3 series in /prometheus-metrics' },
    );
    const cpu = samples.find((s) => s.name == 'client_metric_cpu_usage');
    assert.deepEqual(cpu.labels, { app_id: appId, environment: 'test', host: 'server1' });
    assert.equal(cpu.value, 75.5);
    await client.close();
  });

  it('reports_metrics_the_server_rejects_when_client_limits_are_looser_than_the_servers', async () => {
    const appId = 'sdk-it-rejects-' + process.pid;
    const { client, drops } = clientOf(service, appId, { limits: { maxNameBytes: 10_000 } });
    client.gauge('ok_metric', 1);
    client.gauge('n'.repeat(201), 2);
    assert.equal(await client.flush(), true);
    assert.equal(drops.length, 1);
    assert.equal(drops[0].metric.name.length, 201);
    assert.equal(drops[0].reason, 'rejected');
    assert.match(drops[0].message, /^name: /);
    assert.deepEqual(client.stats(), { sent: 1, dropped: 0, rejected: 1, queued: 0 });
    await client.close();
  });

  it('runs_the_node_quickstart_example_and_its_gauge_counter_and_histogram_appear_in_prometheus_metrics', async () => {
    const appId = 'quickstart-' + process.pid;
    await promisify(execFile)(process.execPath, [join(pkgRoot, 'examples/node-quickstart.mjs')], {
      cwd: pkgRoot,
      env: { ...process.env, MCA_ENDPOINT: service.url, MCA_APP_ID: appId },
      timeout: 30_000,
    });
    const sample = await poll(
      async () => (await samplesOf(service, appId)).find((s) => s.name == 'client_metric_cpu_usage'),
      { what: 'the quickstart gauge in /prometheus-metrics' },
    );
    assert.equal(sample.value, 75.5);
    assert.equal(sample.labels.host, 'server1');
    const samples = await poll(
      async () => {
        const s = await samplesOf(service, appId);
        return s.some((x) => x.name == 'client_metric_render_ms_count') && s;
      },
      { what: 'the quickstart histogram in /prometheus-metrics' },
    );
    const value = (name) => samples.find((s) => s.name == name)?.value;
    assert.equal(value('client_metric_checkouts_total'), 1);
    assert.equal(value('client_metric_render_ms_count'), 1);
    assert.equal(value('client_metric_render_ms_sum'), 42);
  });

  // Finding 3, against the real parser: 2**64 must not make the service refuse the whole body.
  it('delivers_a_batch_of_100_whose_one_value_is_2_pow_64_with_that_value', async () => {
    const appId = 'sdk-it-big-' + process.pid;
    const { client, drops } = clientOf(service, appId);
    for (let i = 0; i < 100; i++) client.gauge('big_' + i, i == 42 ? 2 ** 64 : i);
    assert.equal(await client.flush(), true);
    assert.deepEqual(drops, []);
    assert.deepEqual(client.stats(), { sent: 100, dropped: 0, rejected: 0, queued: 0 });
    const stored = await storedCount(service, appId, 100);
    assert.equal(stored.find((m) => m.name == 'big_42').value, 2 ** 64);
  });

  // close() is the way to flush before a Node process exits: the client's timers never keep it alive.
  it('delivers_everything_a_process_records_when_it_awaits_close_before_exiting', async () => {
    const appId = 'sdk-it-exit-' + process.pid;
    const script = `
      import { createMetricsClient } from '@metrics-collection/client';
      const client = createMetricsClient({
        endpoint: process.env.MCA_ENDPOINT, appId: process.env.MCA_APP_ID, profileId: 'job',
        flushIntervalMs: 3600000, maxBatchSize: 100,
      });
      for (let i = 0; i < 250; i++) client.gauge('job_metric_' + i, i);
      process.exitCode = (await client.close()) ? 0 : 1;
    `;
    const t0 = Date.now();
    await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: pkgRoot,
      env: { ...process.env, MCA_ENDPOINT: service.url, MCA_APP_ID: appId },
      timeout: 30_000,
    });
    assert.ok(Date.now() - t0 < 20_000);
    const stored = await storedCount(service, appId, 250, 'the 250 metrics of the exited process');
    assert.equal(stored.length, 250);
  });
});
