// The outage scenario: the service goes away while the application keeps recording, then comes
// back on the same port. Shared by test/integration/outage.test.mjs (scaled down to seconds) and
// scripts/outage.mjs (the one-minute measurement written up in the README).
import { createMetricsClient } from '../../dist/esm/index.js';
import { poll, startService, storedMetrics } from './service.mjs';

/**
 * Runs the scenario and returns what happened to every metric recorded during the outage.
 * @param downMs how long the service is stopped
 * @param count how many metrics are recorded while it is down, spread evenly over downMs
 * @param clientOptions options for the client (backoff, queue bound); endpoint/appId are set here
 */
export async function runOutage({ downMs, count, clientOptions = {}, drainTimeoutMs = 120_000 }) {
  const appId = `outage-${process.pid}-${Date.now()}`;
  let service = await startService();
  const port = service.port;
  const drops = [];
  let errors = 0;
  const client = createMetricsClient({
    endpoint: service.url,
    appId,
    profileId: 'outage',
    ...clientOptions,
    onDrop: (m, reason) => drops.push({ name: m.name, reason }),
    onError: () => errors++,
  });
  try {
    client.gauge('before_outage', 1);
    if (!(await client.flush())) throw new Error('could not deliver before the outage');

    await service.stop();
    const stoppedAt = Date.now();
    for (let i = 0; i < count; i++) {
      client.gauge(`during_outage_${i}`, i);
      const due = stoppedAt + ((i + 1) * downMs) / count;
      await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    }
    const queuedAtRestart = client.stats().queued;
    const errorsWhileDown = errors;
    service = await startService({ port });
    const restartedAt = Date.now();

    await poll(() => client.stats().queued == 0, {
      timeoutMs: drainTimeoutMs,
      intervalMs: 20,
      what: 'the client queue to drain',
    });
    const drainedMs = Date.now() - restartedAt;
    const stats = client.stats();
    const expected = count - drops.length;
    const names = new Set(
      await poll(
        async () => {
          const ms = (await storedMetrics(service, appId))
            .map((m) => m.name)
            .filter((n) => n.startsWith('during_outage_'));
          return ms.length >= expected && ms;
        },
        { timeoutMs: 15_000, what: 'the delivered metrics in GET /api/v2/app/{app_id}/metrics' },
      ),
    );
    return {
      downMs,
      recorded: count,
      queuedAtRestart,
      errorsWhileDown,
      dropped: drops.map((d) => d.name),
      dropReasons: [...new Set(drops.map((d) => d.reason))],
      delivered: names,
      drainedMs,
      stats,
    };
  } finally {
    await client.close();
    await service.stop();
  }
}
