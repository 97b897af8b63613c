import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runOutage } from '../support/outage.mjs';
import { skipReason } from '../support/service.mjs';

// The one-minute version of this scenario is `node scripts/outage.mjs 60` (see README).
const fastBackoff = { retryBaseDelayMs: 100, maxRetryDelayMs: 500, flushIntervalMs: 100 };

describe('service down for a while', { skip: skipReason }, () => {
  it('delivers_every_metric_recorded_during_the_outage_once_the_service_is_back_on_the_same_port', async () => {
    const r = await runOutage({ downMs: 3000, count: 300, clientOptions: { ...fastBackoff, maxQueueSize: 1000 } });
    assert.equal(r.queuedAtRestart, 300);
    assert.ok(r.errorsWhileDown > 0, 'failed attempts are reported while the service is down');
    assert.deepEqual(r.dropped, []);
    assert.equal(r.delivered.size, 300);
    assert.equal(r.stats.sent, 301);
  });

  it('keeps_the_newest_metrics_up_to_the_queue_bound_and_reports_the_oldest_as_dropped', async () => {
    const r = await runOutage({ downMs: 3000, count: 300, clientOptions: { ...fastBackoff, maxQueueSize: 100 } });
    const name = (i) => `during_outage_${i}`;
    const k = r.dropped.length;
    assert.deepEqual(r.dropReasons, ['queue_full']);
    // The bound is the queue (100) plus the batch on the wire (up to maxBatchSize, 100) when the
    // service comes back: at least 100 and at most 200 of the 300 survive, and always the newest.
    assert.ok(k >= 100 && k <= 200, `${k} dropped`);
    assert.deepEqual(
      r.dropped,
      Array.from({ length: k }, (_, i) => name(i)),
    );
    assert.deepEqual([...r.delivered].sort(), Array.from({ length: 300 - k }, (_, i) => name(k + i)).sort());
    assert.equal(r.stats.dropped, k);
  });
});
