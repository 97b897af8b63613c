// The apiKey option against a service with API_KEYS_FILE, from Node: the header on fetch, and the
// api_key query parameter of a beacon (a fake page whose sendBeacon posts with a real fetch).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createMetricsClient } from '@metrics-collection/client';
import { installBrowser } from '../support/fake-browser.mjs';
import { recorder } from '../support/fake-fetch.mjs';
import { newKey, poll, skipReason, startService, storedMetrics } from '../support/service.mjs';

const skip = skipReason;

describe('client with apiKey against the service binary with API_KEYS_FILE', { skip }, () => {
  const app = 'keyed-node-' + process.pid;
  const ingestKey = newKey();
  const readKey = newKey();
  let service;
  before(async () => {
    service = await startService({
      keys: [
        { id: 'node', key: ingestKey, scopes: ['ingest'], apps: [app] },
        { id: 'reader', key: readKey, scopes: ['read'], apps: ['*'] },
      ],
    });
    service.headers = { Authorization: `Bearer ${readKey}` };
  });
  after(async () => {
    await service?.stop();
  });

  it('delivers_with_the_key_in_the_authorization_header', async () => {
    const r = recorder();
    const client = createMetricsClient({ endpoint: service.url, appId: app, profileId: 'p', apiKey: ingestKey, ...r });
    client.gauge('header_key', 1);
    assert.equal(await client.close(), true, r.errors.map((e) => e.message).join('\n'));
    await poll(async () => (await storedMetrics(service, app)).some((m) => m.name == 'header_key'), {
      what: 'header_key in the service',
    });
  });

  it('reports_a_missing_key_answered_401_as_http_error', async () => {
    const r = recorder();
    const client = createMetricsClient({ endpoint: service.url, appId: app, profileId: 'p', ...r });
    client.gauge('no_key', 1);
    assert.equal(await client.close(), true);
    assert.deepEqual(
      r.drops.map((d) => d.reason),
      ['http_error'],
    );
    assert.equal(r.errors[0].status, 401);
  });

  it('delivers_a_beacon_with_the_key_in_the_api_key_query_parameter', async () => {
    const posts = [];
    // sendBeacon cannot set headers: it posts the Blob, with its type, to the URL as given.
    const page = installBrowser({
      beacon: (url, blob) => {
        posts.push(fetch(url, { method: 'POST', body: blob, headers: { 'Content-Type': blob.type } }));
        return true;
      },
    });
    const savedRequest = globalThis.Request;
    globalThis.Request = undefined; // no keepalive fetch in this page: the beacon is the way out
    try {
      const client = createMetricsClient({
        endpoint: service.url,
        appId: app,
        profileId: 'p',
        apiKey: ingestKey,
        flushIntervalMs: 3_600_000,
      });
      client.gauge('beacon_key', 1);
      page.fire('pagehide');
      assert.equal(posts.length, 1);
      const res = await posts[0];
      assert.equal(res.status, 200, await res.text());
      await poll(async () => (await storedMetrics(service, app)).some((m) => m.name == 'beacon_key'), {
        what: 'beacon_key in the service',
      });
    } finally {
      globalThis.Request = savedRequest;
      page.uninstall();
    }
  });
});
