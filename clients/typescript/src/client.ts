import type {
  ClientOptions,
  ClientStats,
  DropReason,
  MetricInput,
  MetricsClient,
  MetricsClientError,
} from './options.js';
import { backoffDelay, parseRetryAfter } from './retry.js';
import { DEFAULT_LIMITS, utf8Length, validateMetric } from './validate.js';
import type { ErrorResponse, IngestResponse, Metric, RejectedItem } from './wire.js';

/** A queued metric with its JSON text, serialised once so batches can be sized in bytes. */
interface Entry {
  m: Metric;
  s: string;
  b: number;
}

const DEFAULTS = {
  maxBatchSize: 100,
  maxBatchBytes: 60000,
  flushIntervalMs: 1000,
  maxQueueSize: 1000,
  retryBaseDelayMs: 500,
  maxRetryDelayMs: 30000,
  closeTimeoutMs: 5000,
  keepaliveBytes: 60000,
  lifecycle: true,
  persist: false,
};

// Browsers refuse keepalive requests once the bodies in flight exceed 64 KiB per document.
const KEEPALIVE_BUDGET = 65536;

/**
 * Creates a client that batches metrics and delivers them to the Metrics Collection API.
 * Never throws: invalid input and lost metrics go to `onDrop`, failed requests to `onError`.
 */
export function createMetricsClient(options: ClientOptions): MetricsClient {
  const o = { ...options } as Required<ClientOptions> & typeof DEFAULTS;
  for (const k in DEFAULTS) (o as any)[k] ??= (DEFAULTS as any)[k];
  const g = globalThis as any;
  const nav = g.navigator;
  const doc = g.document;
  const limits = { ...DEFAULT_LIMITS, ...o.limits };
  const url = (o.endpoint + '').replace(/\/+$/, '') + '/api/v2/app/' + encodeURIComponent(o.appId) + '/metrics';
  const key = 'mca:' + url;
  const canKeepalive = !!doc && !!g.Request && 'keepalive' in g.Request.prototype;
  const stats = { sent: 0, dropped: 0, rejected: 0 };
  let queue: Entry[] = [];
  let busy: Promise<boolean> | undefined;
  let timer: any;
  let retrying = false;
  let retryDelay = 0;
  let attempt = 0;
  let limit = o.maxBatchSize;
  let inflight = 0; // keepalive body bytes in flight
  let flying = 0; // metrics in requests not yet answered
  let closed = false;

  const call = (fn: ((...a: any[]) => void) | undefined, ...args: unknown[]) => {
    try {
      fn && fn(...args);
    } catch (e) {
      if (fn != o.onError) call(o.onError, e);
    }
  };
  const fail = (message: string, status?: number, code?: string) =>
    call(o.onError, Object.assign(new Error(message), { status, code }) as MetricsClientError);
  const drop = (ms: Metric[], reason: DropReason, message?: string) => {
    for (const m of ms) {
      reason == 'invalid' || reason == 'rejected' ? stats.rejected++ : stats.dropped++;
      call(o.onDrop, m, reason, message);
    }
  };
  const bound = () => {
    const over = queue.length - o.maxQueueSize;
    if (over > 0)
      drop(
        queue.splice(0, over).map((e) => e.m),
        'queue_full',
      );
  };
  const requeue = (batch: Entry[]) => {
    queue = batch.concat(queue);
    bound();
  };
  // Request body size: '{"metrics":[' + items joined by ',' + ']}'.
  const size = (batch: Entry[]) => batch.reduce((n, e) => n + e.b + 1, 13);
  const body = (batch: Entry[]) => '{"metrics":[' + batch.map((e) => e.s).join() + ']}';
  const take = (maxBytes: number) => {
    let n = 0;
    let bytes = 13;
    while (n < queue.length && n < limit && (!n || bytes + queue[n].b + 1 <= maxBytes)) bytes += queue[n++].b + 1;
    return queue.splice(0, n);
  };
  const ready = () => queue.length >= limit || size(queue.slice(0, limit)) >= o.maxBatchBytes;
  const schedule = (ms: number, retry: boolean) => {
    clearTimeout(timer);
    retrying = retry;
    timer = setTimeout(run, ms);
    timer.unref && timer.unref();
  };
  const trigger = () => {
    if (busy || retrying) return;
    if (ready()) run();
    else if (!timer) schedule(o.flushIntervalMs, false);
  };

  /** Sends one batch. Resolves with a retry delay in ms, or -1 when the batch is settled. */
  async function send(batch: Entry[], keepalive?: boolean): Promise<number> {
    const bytes = size(batch);
    const ka = keepalive || (canKeepalive && inflight + bytes <= KEEPALIVE_BUDGET);
    let res: Response;
    flying += batch.length;
    if (ka) inflight += bytes;
    try {
      res = await (o.fetch || fetch)(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: body(batch),
        keepalive: ka,
      });
    } catch (e: any) {
      flying -= batch.length;
      fail('network error: ' + (e && e.message));
      return retry(batch);
    } finally {
      if (ka) inflight -= bytes;
    }
    const status = res.status;
    let json: any;
    try {
      json = await res.json();
    } catch {}
    // From here to the return nothing awaits, so stats() never counts a metric twice.
    flying -= batch.length;
    if (status < 300) {
      const rejected: RejectedItem[] = ((json as IngestResponse) || {}).rejected || [];
      let bad = 0;
      for (const r of rejected) {
        const e = batch[r.index];
        if (e) (drop([e.m], 'rejected', r.field + ': ' + r.error), bad++);
      }
      stats.sent += batch.length - bad;
      attempt = 0;
      return -1;
    }
    const err = ((json as ErrorResponse) || {}).error || ({} as ErrorResponse['error']);
    fail('HTTP ' + status + ' ' + (err.message || ''), status, err.code);
    if (status == 429 || status == 502 || status == 503 || status == 504)
      return retry(batch, parseRetryAfter(res.headers?.get('retry-after'), Date.now()));
    if (status == 413 && batch.length > 1) {
      // The server's batch or body limit is below ours: halve the batch and go on.
      limit = Math.ceil(batch.length / 2);
      requeue(batch);
      return -1;
    }
    batch.forEach((e, i) => {
      const d = (err.details || []).find((x) => x.index == i);
      drop(
        [e.m],
        status == 400 ? 'rejected' : status == 413 ? 'too_large' : 'http_error',
        d ? d.field + ': ' + d.error : err.code || 'HTTP ' + status,
      );
    });
    return -1;
  }

  function retry(batch: Entry[], afterMs?: number): number {
    requeue(batch);
    return afterMs ?? backoffDelay(attempt++, o.retryBaseDelayMs, o.maxRetryDelayMs);
  }

  /** Sends the next batch unless one is in flight. Resolves false when a retry was scheduled. */
  function run(): Promise<boolean> {
    if (busy) return busy;
    clearTimeout(timer);
    timer = undefined;
    retrying = false;
    const batch = take(o.maxBatchBytes);
    if (!batch.length) return Promise.resolve(true);
    return (busy = send(batch)
      .catch((e) => (call(o.onError, e), -1))
      .then((delay) => {
        busy = undefined;
        if (delay >= 0) {
          retryDelay = delay;
          schedule(delay, true);
          return false;
        }
        if (queue.length) trigger();
        return true;
      }));
  }

  async function flush(): Promise<boolean> {
    try {
      // A request in flight that ends in a scheduled retry ends this flush too: no extra attempt.
      if (busy && !(await busy)) return false;
      while (queue.length) if (!(await run())) return false;
      return true;
    } catch (e) {
      call(o.onError, e);
      return false;
    }
  }

  function record(input: MetricInput) {
    try {
      const t = input.tags;
      const m: Metric = {
        name: input.name,
        value: input.value,
        timestamp: input.timestamp ?? Date.now(),
        tags: t == null ? { ...o.tags } : typeof t == 'object' && !Array.isArray(t) ? { ...o.tags, ...t } : t,
        profileId: input.profileId ?? o.profileId,
      };
      // The server defaults absent tags to {}; leaving them out keeps bodies small.
      if (m.tags && typeof m.tags == 'object' && !Object.keys(m.tags).length) delete m.tags;
      if (closed) return drop([m], 'closed');
      const invalid = validateMetric(m, limits, Date.now());
      if (invalid) return drop([m], 'invalid', invalid);
      const s = JSON.stringify(m);
      queue.push({ m, s, b: utf8Length(s) });
      bound();
      trigger();
    } catch (e) {
      call(o.onError, e);
    }
  }

  const storage = () => {
    try {
      return o.persist ? g.localStorage : undefined;
    } catch {}
  };
  const unpersist = () => {
    try {
      storage()?.removeItem(key);
    } catch {}
  };

  /** Page is going away or hidden: hand everything queued to the browser, in keepalive-sized requests. */
  function hide(ev: Event) {
    try {
      // pagehide fires before the document turns hidden; a page shown again owns its queue again.
      if (ev.type != 'pagehide' && doc.visibilityState != 'hidden') return unpersist();
      while (queue.length && nav?.onLine !== false) {
        const batch = take(o.keepaliveBytes);
        const bytes = size(batch);
        if (canKeepalive && inflight + bytes <= KEEPALIVE_BUDGET) {
          send(batch, true).then((delay) => delay >= 0 && !busy && schedule(delay, true));
        } else if (nav?.sendBeacon && nav.sendBeacon(url, new Blob([body(batch)], { type: 'application/json' }))) {
          stats.sent += batch.length;
        } else {
          requeue(batch);
          break;
        }
      }
      // The memory queue is the truth while the page lives, so the stored copy is replaced, never
      // appended to (pagehide and visibilitychange both end up here). A full or blocked storage
      // only loses the copy: the metrics stay queued in memory.
      if (queue.length) storage()?.setItem(key, JSON.stringify(queue.map((e) => e.m)));
    } catch (e) {
      call(o.onError, e);
    }
  }
  const online = () => {
    attempt = 0;
    run();
  };

  if (o.lifecycle && doc && g.addEventListener) {
    g.addEventListener('pagehide', hide);
    doc.addEventListener('visibilitychange', hide);
    g.addEventListener('online', online);
  }
  try {
    const s = storage();
    const saved: Metric[] = s ? JSON.parse(s.getItem(key) || '[]') : [];
    unpersist();
    saved.forEach(record);
  } catch {}

  return {
    gauge: (name, value, tags) => record({ name, value, tags }),
    record,
    flush,
    async close() {
      if (closed) return !queue.length;
      closed = true;
      if (g.removeEventListener && doc) {
        g.removeEventListener('pagehide', hide);
        doc.removeEventListener('visibilitychange', hide);
        g.removeEventListener('online', online);
      }
      const end = Date.now() + o.closeTimeoutMs;
      while (!(await flush()) && Date.now() < end)
        await new Promise((r) => setTimeout(r, Math.min(retryDelay, end - Date.now())));
      clearTimeout(timer);
      const left = queue.length;
      drop(
        queue.splice(0).map((e) => e.m),
        'closed',
      );
      return !left;
    },
    stats: (): ClientStats => ({ ...stats, queued: queue.length + flying }),
  };
}
