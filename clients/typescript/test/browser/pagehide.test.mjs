import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromiumMissing, pageWorld } from '../support/browser.mjs';
import { poll, skipReason, storedMetrics } from '../support/service.mjs';

const skip = skipReason || chromiumMissing;

const PAGE = `<!doctype html><meta charset="utf-8"><title>metrics page</title>
<script src="/metrics-client.min.js"></script>
<script>
  const q = new URLSearchParams(location.search);
  window.errors = [];
  window.drops = [];
  // Nothing leaves before the page is closed: the test exercises the pagehide path only.
  window.client = MetricsCollection.createMetricsClient({
    endpoint: q.get('endpoint'), appId: q.get('app'), profileId: 'browser-user',
    tags: { page: 'test' }, flushIntervalMs: 3600000, maxBatchSize: 2000, maxQueueSize: 2000,
    maxBatchBytes: 10000000, persist: q.get('persist') == '1',
    onError: (e) => window.errors.push(String(e.message)),
    onDrop: (m, reason) => window.drops.push(reason),
  });
</script>`;

describe('browser: metrics recorded in a page arrive after the page is closed', { skip }, () => {
  const world = pageWorld(PAGE);
  before(world.start);
  after(world.stop);

  async function recordAndClose(appId, count, padBytes, persist = false) {
    const page = await world.browser.context.newPage();
    const params = new URLSearchParams({ endpoint: world.service.url, app: appId, persist: persist ? '1' : '0' });
    await page.goto(`${world.pages.origin}/index.html?${params}`);
    const before = await page.evaluate(
      ({ count, padBytes }) => {
        const pad = 'x'.repeat(padBytes);
        for (let i = 0; i < count; i++) window.client.gauge('browser_metric_' + i, i, padBytes ? { pad } : undefined);
        return { stats: window.client.stats(), errors: window.errors };
      },
      { count, padBytes },
    );
    assert.deepEqual(
      before.stats,
      { sent: 0, dropped: 0, rejected: 0, queued: count },
      'nothing sent before the page closes',
    );
    await page.close({ runBeforeUnload: true });
  }

  it('finds_every_metric_in_the_service_after_pagehide_from_another_origin', async () => {
    const appId = 'browser-' + process.pid;
    await recordAndClose(appId, 200, 0);
    const stored = await poll(
      async () => {
        const ms = await storedMetrics(world.service, appId);
        return ms.length == 200 && ms;
      },
      { timeoutMs: 20_000, what: 'all 200 browser metrics in GET /api/v2/app/{app_id}/metrics' },
    );
    const names = new Set(stored.map((m) => m.name));
    for (let i = 0; i < 200; i++) assert.ok(names.has('browser_metric_' + i), 'browser_metric_' + i);
    const first = stored.find((m) => m.name == 'browser_metric_7');
    assert.equal(first.value, 7);
    assert.equal(first.profileId, 'browser-user');
    assert.deepEqual(first.tags, { page: 'test' });
  });

  it('sends_what_exceeded_the_64_KiB_keepalive_budget_on_the_next_page_load_when_persist_is_on', async () => {
    const appId = 'browser-big-' + process.pid;
    // 600 metrics of about 520 bytes: about 310 KB queued when the page closes.
    await recordAndClose(appId, 600, 400, true);
    const count = async () => (await storedMetrics(world.service, appId)).length;
    const first = await poll(count, { timeoutMs: 20_000, what: 'the first keepalive request to arrive' });
    assert.ok(first < 600, `${first} arrived: the browser accepts only 64 KiB of keepalive bodies at page exit`);

    const page = await world.browser.context.newPage();
    const params = new URLSearchParams({ endpoint: world.service.url, app: appId, persist: '1' });
    await page.goto(`${world.pages.origin}/index.html?${params}`);
    assert.equal(await page.evaluate(() => window.client.flush()), true);
    await poll(async () => (await count()) == 600, {
      timeoutMs: 20_000,
      what: 'all 600 metrics after the next page load',
    });
    await page.close();
  });
});
