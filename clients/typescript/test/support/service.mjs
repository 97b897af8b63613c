// Starts the real service binary ($MCA_BINARY) on a free port and stops it again.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMetricsClient } from '@metrics-collection/client';
import { recorder } from './fake-fetch.mjs';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const binary = process.env.MCA_BINARY || join(repoRoot, 'build/release/metrics-collection-api');
export const haveBinary = existsSync(binary);
export const skipReason = haveBinary ? false : `service binary not found at ${binary} (set MCA_BINARY)`;

/** A port nobody listens on right now: bind port 0, read it, close. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Calls `fn` until it returns a truthy value or the deadline passes; returns that value. */
export async function poll(fn, { timeoutMs = 15_000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if (e.fatal) throw e;
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A new random API key. */
export const newKey = () => randomBytes(24).toString('base64url');

/**
 * Writes an API keys file (mode 0600) in a new temporary directory: each entry's `key` is stored
 * as its SHA-256 digest, the other fields as given. Returns its path and a function removing it.
 */
function writeKeysFile(keys) {
  const dir = mkdtempSync(join(tmpdir(), 'mca-keys-'));
  const path = join(dir, 'keys.json');
  const entries = keys.map(({ key, ...entry }) => ({
    ...entry,
    sha256: createHash('sha256').update(key).digest('hex'),
  }));
  writeFileSync(path, JSON.stringify({ keys: entries }), { mode: 0o600 });
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Starts the service on the embedded transport, listening on 127.0.0.1:`port`, and waits until
 * GET /livez answers 200. `env` adds variables (e.g. CORS_ALLOWED_ORIGINS). `keys` (entries of an
 * API keys file, each with its plain `key`) makes a keys file for API_KEYS_FILE, removed at stop.
 */
export async function startService({ port, env = {}, keys } = {}) {
  port ??= await freePort();
  const keysFile = keys && writeKeysFile(keys);
  if (keysFile) env = { API_KEYS_FILE: keysFile.path, ...env };
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(KAFKA_|SCHEMA_REGISTRY_|PORT$|HOST$)/.test(k)),
  );
  const child = spawn(binary, ['--port', String(port), '--host', '127.0.0.1'], {
    cwd: repoRoot,
    env: { ...clean, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let gone = false;
  exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${port}`;
  const service = {
    port,
    url,
    /** Headers of getJson/getText, e.g. the `Authorization` of a read key when API_KEYS_FILE is set. */
    headers: {},
    output: () => output,
    async stop() {
      if (!gone) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      keysFile?.remove();
    },
    async getJson(path) {
      const res = await fetch(url + path, { headers: service.headers });
      return { status: res.status, body: await res.json() };
    },
    async getText(path) {
      const res = await fetch(url + path, { headers: service.headers });
      return { status: res.status, body: await res.text() };
    },
  };
  try {
    await poll(
      async () => {
        if (gone) throw Object.assign(new Error(`service exited during start-up:\n${output}`), { fatal: true });
        return (await fetch(url + '/livez')).status == 200;
      },
      { timeoutMs: 30_000, what: `${url}/livez` },
    );
  } catch (e) {
    await service.stop();
    throw new Error(`${e.message}\n--- service output ---\n${output}`);
  }
  return service;
}

/** Parses `client_metric_*` samples of the Prometheus text format into {name, labels, value}. */
export function clientSamples(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^(client_metric_[A-Za-z0-9_:]+)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The names of the series the service holds for `appId`. */
export async function storedMetrics(service, appId) {
  const { status, body } = await service.getJson(`/api/v2/app/${appId}/metrics`);
  if (status != 200) throw new Error(`GET metrics answered ${status}`);
  return body.metrics;
}

/** Polls until the service holds exactly `count` series for `appId`; returns them. */
export async function storedCount(
  service,
  appId,
  count,
  what = `the ${count} metrics in GET /api/v2/app/{app_id}/metrics`,
) {
  return poll(
    async () => {
      const ms = await storedMetrics(service, appId);
      return ms.length == count && ms;
    },
    { what },
  );
}

/** The `client_metric_*` samples of `appId` in the service's /prometheus-metrics. */
export async function samplesOf(service, appId) {
  return clientSamples((await service.getText('/prometheus-metrics')).body).filter((s) => s.labels.app_id == appId);
}

/**
 * A client of `service` for `appId` (profileId 'p' unless `options` names one); `drops` and
 * `errors` are what its onDrop and onError were given, as `recorder()` keeps them.
 */
export function clientOf(service, appId, options = {}) {
  const { drops, errors, onDrop, onError } = recorder();
  const client = createMetricsClient({ endpoint: service.url, appId, profileId: 'p', onDrop, onError, ...options });
  return { client, drops, errors };
}
