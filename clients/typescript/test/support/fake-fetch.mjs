// A scripted fetch: records every request and answers from a list of responders.
import { mock } from 'node:test';
import { createMetricsClient } from '../../dist/esm/index.js';

/** JSON response helper. */
export const json = (status, body, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

export const ok = (accepted, rejected = []) => json(200, { accepted, rejected });

export const error = (status, code, headers = {}, details = []) =>
  json(status, { error: { code, message: code, details } }, headers);

/** A responder whose answer never comes: the request stays in flight. */
export const pending = () => new Promise(() => {});

/** A responder that refuses the first request with `status`/`code` and `Retry-After: retryAfter`, then accepts batches of one. */
export const refusedOnce = (status, code, retryAfter) => (call, i) =>
  i == 0 ? error(status, code, { 'Retry-After': retryAfter }) : ok(1);

/**
 * Creates a fake fetch. `respond(request, callIndex)` returns a Response, a Promise of one, or
 * throws / rejects to simulate a network error. Default: 200 accepting everything.
 */
export function fakeFetch(respond) {
  const calls = [];
  const fetch = async (url, init) => {
    const body = JSON.parse(init.body);
    const call = { url, init, body, metrics: body.metrics, bytes: Buffer.byteLength(init.body) };
    calls.push(call);
    if (!respond) return ok(body.metrics.length);
    return respond(call, calls.length - 1);
  };
  return { fetch, calls };
}

/** Lets pending promise chains (fetch, res.json()) settle without advancing fake timers. */
export async function settle(rounds = 10) {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** Moves the mocked timers (`mock.timers`) on by `ms`, then lets what they started settle. */
export async function advance(ms) {
  mock.timers.tick(ms);
  await settle();
}

/** Records onDrop/onError calls. */
export function recorder() {
  const drops = [];
  const errors = [];
  return {
    drops,
    errors,
    onDrop: (metric, reason, message) => drops.push({ metric, reason, message }),
    onError: (err) => errors.push(err),
  };
}

/** A client of `base` (and `options`) over `fakeFetch(respond)`, its drops and errors recorded: { client, f, r }. */
export function recordedClient(respond, options = {}) {
  const r = recorder();
  const f = fakeFetch(respond);
  const client = createMetricsClient({ ...base, fetch: f.fetch, ...r, ...options });
  return { client, f, r };
}

export const base = { endpoint: 'http://metrics.test/', appId: 'web-app', profileId: 'user-1' };
