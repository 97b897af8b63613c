// Measures what happens to metrics recorded while the service is down, with the client's default
// options: `node scripts/outage.mjs [down-seconds=60] [metrics-per-second=10]`. Needs a build and
// the service binary ($MCA_BINARY or build/release/metrics-collection-api).
import { runOutage } from '../test/support/outage.mjs';
import { binary, haveBinary } from '../test/support/service.mjs';

if (!haveBinary) {
  console.error(`service binary not found at ${binary} (set MCA_BINARY)`);
  process.exit(2);
}
const downS = Number(process.argv[2] ?? 60);
const rate = Number(process.argv[3] ?? 10);
const r = await runOutage({ downMs: downS * 1000, count: Math.round(downS * rate) });
console.log(
  JSON.stringify(
    {
      down_seconds: downS,
      recorded_while_down: r.recorded,
      queued_at_restart: r.queuedAtRestart,
      failed_attempts_while_down: r.errorsWhileDown,
      dropped: r.dropped.length,
      drop_reasons: r.dropReasons,
      delivered: r.delivered.size,
      seconds_from_restart_to_empty_queue: r.drainedMs / 1000,
      client_stats: r.stats,
    },
    null,
    2,
  ),
);
