// Findings 1 and 4 in a real browser: two clients (two copies of the SDK) closing with more than
// the page's keepalive budget queued, and a stored copy delivered while the page was hidden.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromiumMissing, pageWorld } from '../support/browser.mjs';
import { EXIT_PAGE, expectAll, openExitPage, recordInPage, settledCounts } from '../support/exit-page.mjs';
import { skipReason, storedMetrics } from '../support/service.mjs';

const skip = skipReason || chromiumMissing;

describe('browser: page exit within the page-wide keepalive budget', { skip }, () => {
  const world = pageWorld(EXIT_PAGE);
  before(world.start);
  after(world.stop);

  it('two_clients_with_45_KB_each_lose_nothing_with_persist_what_did_not_fit_arrives_on_the_next_load', async () => {
    const apps = ['exit-a-' + process.pid, 'exit-b-' + process.pid];
    const page = await openExitPage(world.browser.context, world.pages.origin, {
      endpoint: world.service.url,
      apps,
      persist: true,
    });
    // 90 gauges of about 500 bytes: about 45 KB per client, 90 KB together, over the 64 KiB.
    const stats = await recordInPage(page, 90, 400);
    assert.deepEqual(
      stats.map((s) => s.queued),
      [90, 90],
    );
    await page.close({ runBeforeUnload: true });
    const atExit = await settledCounts(world.service, apps);
    const arrived = atExit[apps[0]] + atExit[apps[1]];
    assert.ok(arrived >= 90 && arrived < 180, `at exit: ${JSON.stringify(atExit)}`);

    const next = await openExitPage(world.browser.context, world.pages.origin, {
      endpoint: world.service.url,
      apps,
      persist: true,
    });
    assert.deepEqual(await next.evaluate(() => Promise.all(window.clients.map((c) => c.flush()))), [true, true]);
    await expectAll(world.service, apps, 90, 'all 90 metrics of both apps after the next load');
    assert.deepEqual(await next.evaluate(() => window.drops), []);
    await next.close();
  });

  it('a_copy_stored_on_hide_and_delivered_while_hidden_is_not_sent_again_after_the_tab_closes', async () => {
    const apps = ['exit-hidden-' + process.pid];
    const page = await openExitPage(world.browser.context, world.pages.origin, {
      endpoint: world.service.url,
      apps,
      persist: true,
    });
    await recordInPage(page, 277, 0);
    // The tab goes to the background: the document reports hidden and fires visibilitychange.
    const storedOnHide = await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
      document.dispatchEvent(new Event('visibilitychange'));
      const keys = Object.keys(localStorage).filter((k) => k.startsWith('mca:'));
      return keys.map((k) => JSON.parse(localStorage.getItem(k)).length);
    });
    assert.deepEqual(storedOnHide, [277]);
    await expectAll(world.service, apps, 277, 'the 277 metrics delivered while hidden');
    await page.waitForFunction(() => window.clients[0].stats().sent == 277);
    assert.deepEqual(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('mca:'))), []);
    await page.close({ runBeforeUnload: true });

    const next = await openExitPage(world.browser.context, world.pages.origin, {
      endpoint: world.service.url,
      apps,
      persist: true,
    });
    assert.deepEqual(
      await next.evaluate(() => window.clients[0].stats()),
      { sent: 0, dropped: 0, rejected: 0, queued: 0 },
      'the next load finds nothing stored to send again',
    );
    assert.equal((await storedMetrics(world.service, apps[0])).length, 277);
    await next.close();
  });
});
