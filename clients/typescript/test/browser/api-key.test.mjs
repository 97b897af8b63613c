// The apiKey option in Chromium against a service with a keys file (API_KEYS_FILE) and an origin
// list: the key travels in the Authorization header, at page exit too; an unknown key and an
// origin the key does not list are refused and reported, not retried.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromiumMissing, launchChromium, startPageServer } from '../support/browser.mjs';
import {
  EXIT_PAGE,
  expectAll,
  flushFirstClient,
  openExitPage,
  pageReports,
  recordInPage,
} from '../support/exit-page.mjs';
import { newKey, skipReason, startService, storedMetrics } from '../support/service.mjs';

const skip = skipReason || chromiumMissing;

describe('browser: apiKey against a service with API_KEYS_FILE and an origin list', { skip }, () => {
  const app = 'keyed-' + process.pid;
  const ingestKey = newKey();
  const readKey = newKey();
  let service;
  let pages;
  let otherPages;
  let browser;
  before(async () => {
    pages = await startPageServer(EXIT_PAGE);
    otherPages = await startPageServer(EXIT_PAGE);
    // Both page origins may use CORS; only the first is in the ingest key's origins.
    service = await startService({
      keys: [
        { id: 'web', key: ingestKey, scopes: ['ingest'], apps: [app], origins: [pages.origin] },
        { id: 'reader', key: readKey, scopes: ['read'], apps: ['*'] },
      ],
      env: { CORS_ALLOWED_ORIGINS: `${pages.origin},${otherPages.origin}` },
    });
    service.headers = { Authorization: `Bearer ${readKey}` };
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await service?.stop();
    await pages?.close();
    await otherPages?.close();
  });

  /** The exit page for `app`, served from `origin`, whose client sends `key`. */
  const keyedPage = (origin, key) => openExitPage(browser.context, origin, { endpoint: service.url, apps: [app], key });

  it('delivers_with_the_key_while_the_page_lives_and_at_page_exit', async () => {
    const page = await keyedPage(pages.origin, ingestKey);
    await recordInPage(page, 50, 10, 'live_');
    assert.deepEqual(await flushFirstClient(page), true);
    // Then 50 more, sent only by the keepalive request of the page exit.
    await recordInPage(page, 50, 10, 'exit_');
    const state = await pageReports(page);
    assert.deepEqual(state, { errors: [], drops: [] });
    await page.close({ runBeforeUnload: true });
    await expectAll(service, [app], 100, 'the 50 metrics sent while the page lived and the 50 sent at exit');
  });

  it('reports_an_unknown_key_answered_401_as_http_error_without_retrying', async () => {
    const page = await keyedPage(pages.origin, newKey());
    await recordInPage(page, 3, 0, 'unknown_key_');
    assert.equal(await flushFirstClient(page), true);
    const state = await pageReports(page);
    assert.deepEqual(state.drops, [`${app}: http_error`, `${app}: http_error`, `${app}: http_error`]);
    assert.match(state.errors[0], /HTTP 401/);
    await page.close();
    const names = (await storedMetrics(service, app)).map((m) => m.name);
    assert.ok(!names.some((n) => n.startsWith('unknown_key_')));
  });

  it('reports_a_page_on_an_origin_the_key_does_not_list_answered_403_as_http_error', async () => {
    const page = await keyedPage(otherPages.origin, ingestKey);
    await recordInPage(page, 2, 0, 'other_origin_');
    assert.equal(await flushFirstClient(page), true);
    const state = await pageReports(page);
    assert.deepEqual(state.drops, [`${app}: http_error`, `${app}: http_error`]);
    assert.match(state.errors[0], /HTTP 403/);
    await page.close();
  });
});
