// Debian's Chromium through playwright-core, and a page server on its own origin that serves the
// built bundles and a test page. Shared by the browser tests and scripts/page-exit.mjs.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { freePort, startService } from './service.mjs';

export const pkgRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const chromiumMissing =
  !existsSync(CHROMIUM) && `chromium not found at ${CHROMIUM} (apt-get install -y chromium)`;

/**
 * Serves `/index.html` (the `page` text), `/metrics-client.min.js` and `/metrics-client.min.mjs`
 * (from `bundleDir`, default dist/browser) on a free port of 127.0.0.1: another origin than the
 * service's. `scripts` maps more paths to JavaScript files to serve.
 */
export async function startPageServer(page, bundleDir = join(pkgRoot, 'dist/browser'), scripts = {}) {
  const files = {
    '/metrics-client.min.js': [readFileSync(join(bundleDir, 'metrics-client.min.js')), 'text/javascript'],
    '/metrics-client.min.mjs': [readFileSync(join(bundleDir, 'metrics-client.min.mjs')), 'text/javascript'],
    '/index.html': [page, 'text/html; charset=utf-8'],
  };
  for (const [path, file] of Object.entries(scripts)) files[path] = [readFileSync(file), 'text/javascript'];
  const port = await freePort();
  const server = createServer((req, res) => {
    const file = files[req.url.replace(/\?.*/, '')];
    if (file) res.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-store' }).end(file[0]);
    else res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

/** A headless Chromium with its own profile directory (so localStorage survives a closed page). */
export async function launchChromium() {
  const profileDir = mkdtempSync(join(tmpdir(), 'mca-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
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
  return {
    context,
    async close() {
      await context.close();
      rmSync(profileDir, { recursive: true, force: true });
    },
  };
}

/**
 * A browser test's world: a page server (startPageServer(page, bundleDir, scripts)), the service
 * with that origin in CORS_ALLOWED_ORIGINS (plus `env`), and Chromium. `start` (for before())
 * sets `pages`, `service` and `browser`; `stop` (for after()) closes whatever was started.
 */
export function pageWorld(page, { bundleDir, scripts, env = {} } = {}) {
  const world = {
    pages: undefined,
    service: undefined,
    browser: undefined,
    async start() {
      world.pages = await startPageServer(page, bundleDir, scripts);
      world.service = await startService({ env: { CORS_ALLOWED_ORIGINS: world.pages.origin, ...env } });
      world.browser = await launchChromium();
    },
    async stop() {
      await world.browser?.close();
      await world.service?.stop();
      await world.pages?.close();
    },
  };
  return world;
}
