// Measures page exit in Chromium: two clients (apps A and B, two copies of the SDK) each record
// N gauges of about 500 bytes and the page is closed; prints how many arrived at exit, and, with
// persist, how many more after the next load of the page.
// `node scripts/page-exit.mjs [per-app=90] [bundle-dir=dist/browser]`. Needs the service binary
// ($MCA_BINARY or build/release/metrics-collection-api) and Chromium.
import { launchChromium, startPageServer } from '../test/support/browser.mjs';
import { EXIT_PAGE, openExitPage, recordInPage, settledCounts } from '../test/support/exit-page.mjs';
import { binary, haveBinary, startService } from '../test/support/service.mjs';

if (!haveBinary) {
  console.error(`service binary not found at ${binary} (set MCA_BINARY)`);
  process.exit(2);
}
const perApp = Number(process.argv[2] ?? 90);
const pages = await startPageServer(EXIT_PAGE, process.argv[3]);
const service = await startService({ env: { CORS_ALLOWED_ORIGINS: pages.origin } });
const browser = await launchChromium();
const total = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);
const result = { queued: 2 * perApp };
try {
  for (const persist of [false, true]) {
    const apps = [`a-${persist}`, `b-${persist}`];
    const page = await openExitPage(browser.context, pages.origin, { endpoint: service.url, apps, persist });
    await recordInPage(page, perApp, 400);
    await page.close({ runBeforeUnload: true });
    const atExit = await settledCounts(service, apps);
    const label = persist ? 'persist' : 'no_persist';
    result[label] = { arrived_at_exit: total(atExit), by_app_at_exit: atExit };
    if (persist) {
      const next = await openExitPage(browser.context, pages.origin, { endpoint: service.url, apps, persist });
      await next.evaluate(() => Promise.all(window.clients.map((c) => c.flush())));
      const after = await settledCounts(service, apps);
      result[label].arrived_after_next_load = total(after);
      result[label].by_app_after_next_load = after;
      await next.close();
    }
  }
} finally {
  await browser.close();
  await service.stop();
  await pages.close();
}
console.log(JSON.stringify(result, null, 2));
