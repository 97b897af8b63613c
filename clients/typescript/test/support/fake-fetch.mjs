// A scripted fetch: records every request and answers from a list of responders.

/** JSON response helper. */
export const json = (status, body, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

export const ok = (accepted, rejected = []) => json(200, { accepted, rejected });

export const error = (status, code, headers = {}, details = []) =>
  json(status, { error: { code, message: code, details } }, headers);

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

export const base = { endpoint: 'http://metrics.test/', appId: 'web-app', profileId: 'user-1' };
