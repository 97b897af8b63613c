import { watchPage } from './lifecycle.js';
import type {
  ClientOptions,
  ClientStats,
  DeadlineOptions,
  DropReason,
  FetchFunction,
  MetricInput,
  MetricsClient,
  MetricsClientError,
  TagsInput,
} from './options.js';
import { bodySize, bodyText, takeBatch, toEntry, type Entry } from './queue.js';
import { backoffDelay, parseRetryAfter, retryAfterDelay } from './retry.js';
import { localStore, saveEntries, takeSaved } from './storage.js';
import { exchange, KEEPALIVE_BYTES, keepaliveBudget, keepaliveFits, type Answer } from './transport.js';
import { DEFAULT_LIMITS, validateMetric } from './validate.js';
import type { Metric, MetricType, RejectedItem, Tags } from './wire.js';

/** Most metrics the service takes in one request (its `MAX_BATCH_METRICS` default). */
export const MAX_BATCH_METRICS = 1000;

/** Numeric options: default, smallest and largest accepted value. */
const RANGES = {
  maxBatchSize: [100, 1, MAX_BATCH_METRICS],
  maxBatchBytes: [60000, 1024, 1048576],
  flushIntervalMs: [1000, 0, 3600000],
  maxQueueSize: [1000, 1, 100000],
  maxConcurrentRequests: [2, 1, 6],
  requestTimeoutMs: [10000, 100, 600000],
  retryBaseDelayMs: [500, 1, 600000],
  maxRetryDelayMs: [30000, 1, 600000],
  closeTimeoutMs: [5000, 0, 600000],
  keepaliveBytes: [60000, 1024, 65536],
};
type Config = { [K in keyof typeof RANGES]: number };

/** A request in flight: its metrics, and the function that ends it early. */
interface Flight {
  e: Entry[];
  end?: (why: string) => void;
  /** Given up by `close()` at its deadline: whatever the request's outcome, it no longer counts. */
  dead?: boolean;
}

const isRecord = (v: unknown): v is Record<string, unknown> => !!v && typeof v == 'object' && !Array.isArray(v);
const list = (v: unknown): any[] => (Array.isArray(v) ? v : []);

/** Numbers and booleans become their string form; `undefined` leaves the tag out. */
function copyTags(into: Tags, from: TagsInput, keys: string[]): Tags {
  for (const k of keys) {
    const v: unknown = from[k];
    const t = typeof v;
    if (v !== undefined) into[k] = t == 'number' || t == 'boolean' || t == 'bigint' ? String(v) : (v as string);
  }
  return into;
}

/** `gauge`, `counter` and `observe`: `record` with the current time and the given type (none for a gauge). */
const typed = (rec: (m: MetricInput) => void, type?: MetricType) => (name: string, value: number, tags?: TagsInput) =>
  rec({ name, value, tags, ...(type && { type }) });

/**
 * Creates a client that batches metrics and delivers them to the Metrics Collection API.
 * Never throws: options that cannot work (an `endpoint` that is not a string, an `appId` the
 * service would refuse) give a client that records nothing (every metric dropped as `disabled`)
 * and tell `onError`; invalid input and lost metrics go to `onDrop`, failed requests to `onError`.
 */
export function createMetricsClient(options: ClientOptions): MetricsClient {
  let onDrop: unknown;
  let onError: unknown;
  try {
    ({ onDrop, onError } = options);
  } catch {}
  const call = (fn: unknown, ...args: unknown[]) => {
    try {
      typeof fn == 'function' && fn(...args);
    } catch (e) {
      if (fn != onError) call(onError, e);
    }
  };
  const fail = (message: string, status?: number, code?: string) =>
    call(onError, Object.assign(new Error(message), { status, code }) as MetricsClientError);
  const stats = { sent: 0, dropped: 0, rejected: 0 };
  const drop = (ms: Metric[], reason: DropReason, message?: string) => {
    for (const m of ms) {
      reason == 'invalid' || reason == 'rejected' ? stats.rejected++ : stats.dropped++;
      call(onDrop, m, reason, message);
    }
  };
  try {
    return start(options, call, fail, drop, stats);
  } catch (e: any) {
    let why = 'bad options';
    try {
      why = String(e.message);
    } catch {}
    fail('client disabled: ' + why, undefined, 'invalid_option');
    const off = (m: any) => drop([m], 'disabled', why);
    return {
      gauge: typed(off),
      counter: typed(off, 'counter'),
      observe: typed(off, 'histogram'),
      record: off,
      flush: async () => true,
      close: async () => true,
      stats: () => ({ ...stats, queued: 0 }),
    };
  }
}

function start(
  options: ClientOptions,
  call: (fn: unknown, ...args: unknown[]) => void,
  fail: (message: string, status?: number, code?: string) => void,
  drop: (ms: Metric[], reason: DropReason, message?: string) => void,
  stats: { sent: number; dropped: number; rejected: number },
): MetricsClient {
  const g = globalThis as any;
  const o: ClientOptions = { ...options };
  const warn = (message: string) => fail(message, undefined, 'invalid_option');
  const c = {} as Config;
  for (const k in RANGES) {
    const [d, lo, hi] = RANGES[k as keyof Config];
    const v: unknown = o[k as keyof Config];
    c[k as keyof Config] =
      v === undefined
        ? d
        : typeof v != 'number' || v != v
          ? (warn(k + ' is not a number: using ' + d), d)
          : v < lo || v > hi
            ? (warn(k + ' ' + v + ' is outside ' + lo + '..' + hi), v < lo ? lo : hi)
            : v;
  }
  const endpoint: unknown = o.endpoint;
  if (typeof endpoint != 'string') throw new Error('endpoint must be a URL string');
  const appId: unknown = o.appId;
  if (typeof appId != 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(appId))
    throw new Error('appId must match ^[A-Za-z0-9._-]{1,64}$');
  const apiKey: unknown = o.apiKey;
  if (apiKey != null && (typeof apiKey != 'string' || !/^[\x21-\x7e]+$/.test(apiKey)))
    throw new Error('apiKey must be printable ASCII');
  const limits = { ...DEFAULT_LIMITS, ...(isRecord(o.limits) ? o.limits : {}) };
  const baseTags = isRecord(o.tags) ? copyTags({}, o.tags as TagsInput, Object.keys(o.tags)) : {};
  const fetchFn: FetchFunction = (...a) => (o.fetch || g.fetch)(...a);
  const url = endpoint.replace(/\/+$/, '') + '/api/v2/app/' + appId + '/metrics';
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (apiKey) headers.Authorization = 'Bearer ' + apiKey;
  const store = o.persist ? localStore() : undefined;
  const key = 'mca:' + url;
  const nav = g.navigator;
  const canKeepalive = !!g.document && !!g.Request && 'keepalive' in g.Request.prototype;

  const queue: Entry[] = [];
  const flights = new Set<Flight>();
  let wake: (() => void)[] = [];
  let timer: any;
  let waiting = false; // a retry is scheduled: no new request before it
  let retryAt = 0;
  let attempt = 0;
  let failures = 0;
  let limit = c.maxBatchSize;
  let hidden = false; // persist: the stored copy mirrors every unsettled metric while hidden
  let closed = false;

  const bound = () => {
    const over = queue.length - c.maxQueueSize;
    if (over > 0)
      drop(
        queue.splice(0, over).map((e) => e.m),
        'queue_full',
      );
  };
  const requeue = (batch: Entry[]) => {
    queue.unshift(...batch);
    bound();
  };
  const save = () => {
    try {
      if (hidden && store) saveEntries(store, key, [...flights].flatMap((f) => f.e).concat(queue));
    } catch (e) {
      call(o.onError, e);
    }
  };
  const schedule = (ms: number, retry: boolean) => {
    clearTimeout(timer);
    waiting = retry;
    timer = setTimeout(pump, ms);
    timer.unref && timer.unref();
  };
  const ready = () => queue.length >= limit || bodySize(queue.slice(0, limit)) >= c.maxBatchBytes;
  const trigger = () => {
    if (waiting || closed) return;
    if (ready()) pump();
    else if (!timer && queue.length) schedule(c.flushIntervalMs, false);
  };
  /**
   * Resolves `true` when a request settles, `false` at `end`. Its timer keeps a Node process alive
   * until then: whoever awaits flush() or close() asked to wait that long.
   */
  const settleOr = (end: number) =>
    new Promise<boolean>((r) => {
      const t = setTimeout(() => r(false), Math.max(0, end - Date.now()));
      wake.push(() => (clearTimeout(t), r(true)));
    });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

  /** Starts requests, up to `maxConcurrentRequests`, while metrics are queued. Ignores a pending backoff. */
  function pump() {
    clearTimeout(timer);
    timer = undefined;
    waiting = false;
    while (flights.size < c.maxConcurrentRequests && queue.length) fly(takeBatch(queue, limit, c.maxBatchBytes));
  }

  function fly(batch: Entry[]) {
    send(batch)
      .catch((e) => call(o.onError, e))
      .then(() => {
        const w = wake;
        wake = [];
        w.forEach((f) => f());
        save();
        trigger();
      });
  }

  /** Sends one batch and settles every metric in it: delivered, dropped, or queued again for a retry. */
  async function send(batch: Entry[], noKeepalive?: boolean): Promise<void> {
    const flight: Flight = { e: batch };
    flights.add(flight);
    let answer: Answer;
    let keepalive = false;
    try {
      const bytes = bodySize(batch);
      // Keepalive whenever it fits, so that a request in flight survives the page going away.
      keepalive = canKeepalive && !noKeepalive && keepaliveFits(bytes);
      const budget = keepaliveBudget();
      if (keepalive) ((budget.bytes += bytes), budget.requests++);
      try {
        answer = await exchange(
          fetchFn,
          url,
          { method: 'POST', headers, body: bodyText(batch), keepalive },
          c.requestTimeoutMs,
          (end) => (flight.end = end),
        );
      } finally {
        if (keepalive) ((budget.bytes -= bytes), budget.requests--);
      }
    } catch (e: any) {
      flights.delete(flight);
      if (flight.dead) return;
      fail('network error: ' + (e && e.message));
      // A keepalive request the browser refused (its budget is shared with the whole page) is
      // sent again at once without keepalive, for as long as the page lives.
      if (keepalive) return send(batch, true);
      return retry(batch, backoffDelay(attempt++, c.retryBaseDelayMs, c.maxRetryDelayMs));
    }
    flights.delete(flight);
    if (flight.dead) return;
    const status = answer.status;
    const json = answer.json;
    if (status >= 200 && status < 300) {
      // Read defensively: a server or proxy may answer anything, each item is settled once.
      const seen = new Set<Entry>();
      for (const r of list(json && json.rejected) as RejectedItem[]) {
        const e = r && batch[r.index];
        if (e && !seen.has(e)) (seen.add(e), drop([e.m], 'rejected', r.field + ': ' + r.error));
      }
      stats.sent += batch.length - seen.size;
      attempt = 0;
      return;
    }
    const err = (json && json.error) || {};
    const details: any[] = list(err.details).filter(isRecord);
    fail('HTTP ' + status + ' ' + (err.message || ''), status, err.code);
    if (status == 429 || status == 503 || status == 502 || status == 504) {
      const after = parseRetryAfter(answer.retryAfter, Date.now());
      return retry(
        batch,
        after == undefined ? backoffDelay(attempt++, c.retryBaseDelayMs, c.maxRetryDelayMs) : retryAfterDelay(after),
      );
    }
    if (status == 413 && batch.length > 1) {
      // The server's batch or body limit is below ours: halve the batch and go on.
      limit = Math.ceil(batch.length / 2);
      return requeue(batch);
    }
    if (status == 400 && batch.length > 1 && err.code != 'invalid_app_id' && !details.some((d) => d.index != null)) {
      // The whole body was refused (e.g. a number the server cannot parse): send each half on its
      // own until the bad items are alone, so that the good ones still arrive.
      const half = Math.ceil(batch.length / 2);
      await send(batch.slice(0, half));
      return send(batch.slice(half));
    }
    batch.forEach((e, i) => {
      const d = details.find((x) => x.index == i);
      drop(
        [e.m],
        status == 400 ? 'rejected' : status == 413 ? 'too_large' : 'http_error',
        d ? d.field + ': ' + d.error : err.code || 'HTTP ' + status,
      );
    });
  }

  function retry(batch: Entry[], ms: number) {
    failures++;
    requeue(batch);
    retryAt = Date.now() + ms;
    schedule(ms, true);
  }

  const deadline = (opts?: DeadlineOptions) => {
    const t = opts && opts.timeoutMs;
    return Date.now() + (typeof t == 'number' && t >= 0 ? Math.min(t, 600000) : c.closeTimeoutMs);
  };

  async function flushUntil(end: number): Promise<boolean> {
    const before = failures;
    for (;;) {
      if (!queue.length && !flights.size) return true;
      if (failures != before) return false;
      pump();
      if (Date.now() >= end) return false;
      await settleOr(end);
    }
  }

  function record(input: MetricInput) {
    let m: any = input;
    try {
      const t: unknown = input.tags;
      let tags: unknown = t;
      let invalid: string | undefined;
      if (t == null) tags = { ...baseTags };
      else if (isRecord(t)) {
        // Counted before anything is copied: a huge tag object costs one pass, not a copy.
        const keys = Object.keys(t);
        if (keys.length > limits.maxTags) invalid = 'tags: at most ' + limits.maxTags;
        else tags = copyTags({ ...baseTags }, t as TagsInput, keys);
      }
      m = {
        name: input.name,
        value: input.value,
        timestamp: input.timestamp ?? Date.now(),
        tags,
        profileId: input.profileId ?? o.profileId,
      };
      if (input.type != null) m.type = input.type;
      // The server defaults absent tags to {}; leaving them out keeps bodies small.
      if (tags != t && !Object.keys(tags as Tags).length) delete m.tags;
      if (closed) return drop([m], 'closed');
      invalid ||= validateMetric(m, limits, Date.now());
      if (invalid) return drop([m], 'invalid', invalid);
      queue.push(toEntry(m));
      bound();
      trigger();
    } catch (e) {
      drop([m], 'invalid', String(e));
    }
  }

  /** The page is going away or hidden: hand everything queued to the browser, within the page's keepalive budget. */
  function hide() {
    try {
      hidden = true;
      // Persist before handing over: if the page dies now, the next load sends what is stored.
      save();
      while (queue.length && nav?.onLine !== false) {
        // As much as the page's budget still has room for: what does not fit stays queued (and stored).
        const room = KEEPALIVE_BYTES - keepaliveBudget().bytes;
        const batch = takeBatch(queue, MAX_BATCH_METRICS, room < c.keepaliveBytes ? room : c.keepaliveBytes);
        if (canKeepalive && keepaliveFits(bodySize(batch))) fly(batch);
        else if (
          nav?.sendBeacon &&
          nav.sendBeacon(
            // A beacon cannot carry headers: the key goes in the query.
            apiKey ? url + '?api_key=' + encodeURIComponent(apiKey as string) : url,
            new g.Blob([bodyText(batch)], { type: 'application/json' }),
          )
        )
          stats.sent += batch.length;
        else {
          requeue(batch);
          break;
        }
      }
      save();
    } catch (e) {
      call(o.onError, e);
    }
  }
  const show = () => {
    hidden = false;
    try {
      store?.removeItem(key);
    } catch {}
  };
  const unwatch = o.lifecycle === false ? () => {} : watchPage(hide, show, () => ((attempt = 0), pump()));
  if (store) takeSaved(store, key).forEach(record);

  let closing: Promise<boolean> | undefined;
  return {
    gauge: typed(record),
    counter: typed(record, 'counter'),
    observe: typed(record, 'histogram'),
    record,
    flush: (opts) => flushUntil(deadline(opts)).catch(() => false),
    close: (opts) =>
      (closing ||= (async () => {
        const end = deadline(opts);
        closed = true;
        unwatch();
        try {
          while (!(await flushUntil(end)) && Date.now() < end) await sleep(Math.min(retryAt, end) - Date.now());
        } catch {}
        clearTimeout(timer);
        // The deadline: requests still in flight are ended and their metrics given up with the rest.
        let left = queue.length;
        for (const f of flights) {
          f.dead = true;
          left += f.e.length;
          drop(
            f.e.map((e) => e.m),
            'closed',
            'not answered by the close() deadline',
          );
          f.end && f.end('closed');
        }
        flights.clear();
        drop(
          queue.splice(0).map((e) => e.m),
          'closed',
        );
        // What close() gave up is reported as dropped: it must not come back from storage.
        save();
        return !left;
      })()),
    stats: (): ClientStats => ({
      ...stats,
      queued: queue.length + [...flights].reduce((n, f) => n + f.e.length, 0),
    }),
  };
}
