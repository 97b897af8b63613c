// A page that creates one client per app in `?apps=`, records nothing by itself and sends nothing
// before it is closed (no size or interval trigger), so that page exit is all that is tested.
// The first app's client comes from the IIFE bundle, the others from the ES module bundle: two
// copies of the SDK in one page, as when a page and a third-party script each bundle it.
import assert from 'node:assert/strict';
import { poll, storedMetrics } from './service.mjs';

export const EXIT_PAGE = `<!doctype html><meta charset="utf-8"><title>page exit</title>
<script src="/metrics-client.min.js"></script>
<script type="module">
  const q = new URLSearchParams(location.search);
  const esm = await import('/metrics-client.min.mjs?copy=2');
  window.errors = [];
  window.drops = [];
  const make = (sdk, app) => sdk.createMetricsClient({
    endpoint: q.get('endpoint'), appId: app, profileId: 'browser-user', apiKey: q.get('key') || undefined,
    flushIntervalMs: 3600000, maxBatchSize: 1000, maxQueueSize: 5000, maxBatchBytes: 1048576,
    persist: q.get('persist') == '1',
    onError: (e) => window.errors.push(app + ': ' + e.message),
    onDrop: (m, reason) => window.drops.push(app + ': ' + reason),
  });
  window.clients = q.get('apps').split(',').map((app, i) => make(i == 0 ? MetricsCollection : esm, app));
  window.ready = true;
</script>`;

/** Opens the exit page for `apps` and waits until its clients exist. */
export async function openExitPage(context, origin, { endpoint, apps, persist = false, key }) {
  const page = await context.newPage();
  const params = new URLSearchParams({ endpoint, apps: apps.join(','), persist: persist ? '1' : '0' });
  if (key) params.set('key', key);
  await page.goto(`${origin}/index.html?${params}`);
  await page.waitForFunction(() => window.ready === true);
  return page;
}

/** Flushes the page's first client; resolves to what its flush() resolved to. */
export const flushFirstClient = (page) => page.evaluate(() => window.clients[0].flush());

/** What the page's onError and onDrop callbacks were given so far (`window.errors`, `window.drops`). */
export const pageReports = (page) => page.evaluate(() => ({ errors: window.errors, drops: window.drops }));

/** Records `count` gauges (`<prefix><i>`) with a tag of `padBytes` bytes in every client of the page. */
export async function recordInPage(page, count, padBytes, prefix = 'exit_metric_') {
  return page.evaluate(
    ({ count, padBytes, prefix }) => {
      const pad = 'x'.repeat(padBytes);
      for (const c of window.clients) for (let i = 0; i < count; i++) c.gauge(prefix + i, i, { pad });
      return window.clients.map((c) => c.stats());
    },
    { count, padBytes, prefix },
  );
}

/** How many distinct series of each app the service holds, once the counts stop changing. */
export async function settledCounts(service, apps, { quietMs = 1500, timeoutMs = 20_000 } = {}) {
  let last = '';
  let since = Date.now();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = {};
    for (const app of apps) counts[app] = (await storedMetrics(service, app)).length;
    const now = JSON.stringify(counts);
    if (now != last) ((last = now), (since = Date.now()));
    else if (Date.now() - since >= quietMs || Date.now() > deadline) return counts;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the service holds `count` series for every app. */
export async function expectAll(service, apps, count, what) {
  await poll(
    async () => {
      for (const app of apps) if ((await storedMetrics(service, app)).length != count) return false;
      return true;
    },
    { timeoutMs: 20_000, what },
  );
  for (const app of apps) assert.equal((await storedMetrics(service, app)).length, count);
}
