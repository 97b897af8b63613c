// The Web Vitals helper in Chromium with Google's real `web-vitals` library: three page loads
// report their vitals through the helper, and the service exposes one histogram per vital whose
// count, sum and buckets are those of the three loads (a gauge would keep only the last one).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromiumMissing, pageWorld, pkgRoot } from '../support/browser.mjs';
import { pageReports } from '../support/exit-page.mjs';
import { clientSamples, poll, skipReason } from '../support/service.mjs';

const skip = skipReason || chromiumMissing;
const LOADS = 3;
/** Each vital's good/poor thresholds (ms): the service's built-in layouts have buckets there. */
const THRESHOLDS = { LCP: [2500, 4000], FCP: [1800, 3000], TTFB: [800, 1800] };

const PAGE = `<!doctype html><meta charset="utf-8"><title>vitals</title>
<h1 id="hero" style="font: 64px sans-serif">The largest text of this page</h1>
<p>Some text below it.</p>
<script src="/metrics-client.min.js"></script>
<script src="/web-vitals-helper.min.js"></script>
<script src="/web-vitals.iife.js"></script>
<script>
  const q = new URLSearchParams(location.search);
  window.errors = [];
  window.drops = [];
  window.seen = {};
  const client = MetricsCollection.createMetricsClient({
    endpoint: q.get('endpoint'), appId: q.get('app'), profileId: 'load-' + q.get('load'),
    flushIntervalMs: 100,
    onError: (e) => window.errors.push(String(e.message)),
    onDrop: (m, reason, message) => window.drops.push([m.name, reason, message]),
  });
  const { onCLS, onINP, onLCP, onFCP, onTTFB } = webVitals;
  MetricsCollectionWebVitals.reportWebVitals(client, { onCLS, onINP, onLCP, onFCP, onTTFB });
  // What web-vitals reported in this page, to compare with what the service counted.
  for (const on of [onCLS, onINP, onLCP, onFCP, onTTFB]) on((m) => (window.seen[m.name] ||= []).push(m.value));
  window.client = client;
</script>`;

/** The histogram `client_metric_<name>` of `appId` in the exposition: type line, buckets, sum, count. */
function histogram(text, name, appId) {
  const family = 'client_metric_' + name;
  const samples = clientSamples(text).filter((s) => s.labels.app_id == appId);
  const typeLine = text.split('\n').find((l) => l.startsWith(`# TYPE ${family} `));
  return {
    type: typeLine && typeLine.split(' ')[3],
    buckets: samples.filter((s) => s.name == family + '_bucket').map((s) => [s.labels.le, s.value]),
    sum: samples.find((s) => s.name == family + '_sum')?.value,
    count: samples.find((s) => s.name == family + '_count')?.value,
    gauge: samples.find((s) => s.name == family),
  };
}

describe('browser: the web-vitals helper reports histograms', { skip }, () => {
  const world = pageWorld(PAGE, {
    scripts: {
      '/web-vitals-helper.min.js': join(pkgRoot, 'dist/browser/web-vitals.min.js'),
      '/web-vitals.iife.js': join(pkgRoot, 'node_modules/web-vitals/dist/web-vitals.iife.js'),
    },
  });
  before(world.start);
  after(world.stop);

  it('counts_every_page_load_s_lcp_fcp_and_ttfb_into_histograms_with_the_built_in_buckets', async () => {
    const appId = 'sdk-vitals-' + process.pid;
    const seen = { LCP: [], FCP: [], TTFB: [] };
    for (let load = 0; load < LOADS; load++) {
      const page = await world.browser.context.newPage();
      const params = new URLSearchParams({ endpoint: world.service.url, app: appId, load: String(load) });
      await page.goto(`${world.pages.origin}/index.html?${params}`);
      await poll(() => page.evaluate(() => !!(window.seen.FCP && window.seen.TTFB)), {
        what: 'FCP and TTFB reported by web-vitals',
      });
      // An input ends LCP's observation: web-vitals reports its final value at once.
      await page.click('#hero');
      const vitals = await poll(() => page.evaluate(() => window.seen.LCP && window.seen), {
        what: 'LCP reported by web-vitals after the click',
      });
      // Sent while the page lives (flushIntervalMs 100), and answered.
      await poll(() => page.evaluate(() => window.client.stats().sent >= 3 && window.client.stats().queued == 0), {
        what: 'the vitals of the load delivered',
      });
      const { errors, drops } = await pageReports(page);
      assert.deepEqual(errors, []);
      assert.deepEqual(drops, []);
      for (const name of Object.keys(seen)) {
        assert.equal(vitals[name].length, 1, `one ${name} per load: ${vitals[name]}`);
        seen[name].push(vitals[name][0]);
      }
      await page.close();
    }

    for (const [vital, values] of Object.entries(seen)) {
      const name = 'web_vitals_' + vital.toLowerCase();
      const h = await poll(
        async () => {
          const x = histogram((await world.service.getText('/prometheus-metrics')).body, name, appId);
          return x.count == LOADS && x;
        },
        { what: `client_metric_${name}_count ${LOADS} in /prometheus-metrics` },
      );
      assert.equal(h.type, 'histogram', name);
      assert.equal(h.gauge, undefined, `${name} is not a gauge`);
      const expectedSum = values.reduce((a, b) => a + b, 0);
      assert.ok(
        Math.abs(h.sum - expectedSum) <= 1e-9 * Math.max(1, expectedSum),
        `${name}_sum ${h.sum} != ${expectedSum}`,
      );
      // The world.service's built-in layout for the name, and each cumulative bucket exactly the loads
      // whose value is at most its bound.
      const bounds = h.buckets.map(([le]) => (le == '+Inf' ? Infinity : Number(le)));
      for (const threshold of THRESHOLDS[vital])
        assert.ok(bounds.includes(threshold), `${name} has a bucket at ${threshold}: ${bounds}`);
      assert.equal(bounds.at(-1), Infinity);
      h.buckets.forEach(([le, count], i) =>
        assert.equal(count, values.filter((v) => v <= bounds[i]).length, `${name}_bucket{le="${le}"} of ${values}`),
      );
    }
  });
});
