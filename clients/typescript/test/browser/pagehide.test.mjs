import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { freePort, poll, skipReason, startService, storedMetrics } from '../support/service.mjs';

const pkgRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const skip = skipReason || (!existsSync(CHROMIUM) && `chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);

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

/** Serves the page and the built bundle from its own origin (another port than the service). */
async function startPageServer() {
  const bundle = readFileSync(join(pkgRoot, 'dist/browser/metrics-client.min.js'));
  const port = await freePort();
  const server = createServer((req, res) => {
    if (req.url.startsWith('/metrics-client.min.js')) {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    } else if (req.url.startsWith('/index.html')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    } else res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

describe('browser: metrics recorded in a page arrive after the page is closed', { skip }, () => {
  let service;
  let pages;
  let context;
  let profileDir;
  before(async () => {
    pages = await startPageServer();
    service = await startService({ env: { CORS_ALLOWED_ORIGINS: pages.origin } });
    profileDir = mkdtempSync(join(tmpdir(), 'mca-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  after(async () => {
    await context?.close();
    await service?.stop();
    await pages?.close();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  async function recordAndClose(appId, count, padBytes, persist = false) {
    const page = await context.newPage();
    const params = new URLSearchParams({ endpoint: service.url, app: appId, persist: persist ? '1' : '0' });
    await page.goto(`${pages.origin}/index.html?${params}`);
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
        const ms = await storedMetrics(service, appId);
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
    const count = async () => (await storedMetrics(service, appId)).length;
    const first = await poll(count, { timeoutMs: 20_000, what: 'the first keepalive request to arrive' });
    assert.ok(first < 600, `${first} arrived: the browser accepts only 64 KiB of keepalive bodies at page exit`);

    const page = await context.newPage();
    const params = new URLSearchParams({ endpoint: service.url, app: appId, persist: '1' });
    await page.goto(`${pages.origin}/index.html?${params}`);
    assert.equal(await page.evaluate(() => window.client.flush()), true);
    await poll(async () => (await count()) == 600, {
      timeoutMs: 20_000,
      what: 'all 600 metrics after the next page load',
    });
    await page.close();
  });
});
