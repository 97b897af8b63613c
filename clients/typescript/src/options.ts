import type { Metric, Tags } from './wire.js';

/**
 * Limits the client validates against before queueing a metric. They mirror the server's
 * defaults; set them to the server's values when its `MAX_*` environment variables are changed.
 */
export interface ValidationLimits {
  /** Longest metric name in UTF-8 bytes. @defaultValue 200 (server `MAX_NAME_BYTES`) */
  maxNameBytes: number;
  /** Most tags on one metric. @defaultValue 32 (server `MAX_TAGS`) */
  maxTags: number;
  /** Longest tag key in UTF-8 bytes. @defaultValue 100 (server `MAX_TAG_KEY_BYTES`) */
  maxTagKeyBytes: number;
  /** Longest tag value in UTF-8 bytes. @defaultValue 1024 (server `MAX_TAG_VALUE_BYTES`) */
  maxTagValueBytes: number;
  /** Longest profileId in UTF-8 bytes. @defaultValue 256 (server `MAX_PROFILE_ID_BYTES`) */
  maxProfileIdBytes: number;
  /** How far in the future a timestamp may be. @defaultValue 3600 (server `MAX_FUTURE_SKEW_SECONDS`) */
  maxFutureSkewSeconds: number;
}

/**
 * Why a metric was given up.
 * - `invalid`: failed client-side validation (counted as rejected).
 * - `rejected`: the server refused it (200 `rejected` list or 400; counted as rejected).
 * - `queue_full`: pushed out of the bounded queue, oldest first.
 * - `too_large`: a single metric the server answered 413 for.
 * - `http_error`: any other non-retryable answer (404, 415, ...).
 * - `closed`: recorded after `close()`, or still queued when `close()` gave up.
 */
export type DropReason = 'invalid' | 'rejected' | 'queue_full' | 'too_large' | 'http_error' | 'closed';

/** Error passed to `onError`: transport failures, HTTP errors, and exceptions thrown by callbacks. */
export interface MetricsClientError extends Error {
  /** HTTP status when the server answered. */
  status?: number;
  /** The server's `error.code`, e.g. `unavailable`. */
  code?: string;
}

/** A metric as the application records it; the client fills in the rest. */
export interface MetricInput {
  name: string;
  value: number;
  /** @defaultValue the time of the call, `Date.now()` */
  timestamp?: number;
  /** Merged over the client's `tags`. */
  tags?: Tags;
  /** @defaultValue the client's `profileId` */
  profileId?: string;
}

/** Options of {@link createMetricsClient}. Only `endpoint`, `appId` and `profileId` are required. */
export interface ClientOptions {
  /** Base URL of the service, e.g. `https://metrics.example.com`. */
  endpoint: string;
  /** Application id, `^[A-Za-z0-9._-]{1,64}$`. */
  appId: string;
  /** Default `profileId` of every metric (the user, device or process reporting). */
  profileId: string;
  /** Tags added to every metric; a metric's own tags win. @defaultValue `{}` */
  tags?: Tags;
  /** Send when this many metrics are queued (keep it <= server `MAX_BATCH_METRICS`). @defaultValue 100 */
  maxBatchSize?: number;
  /** Send when a batch's JSON body would reach this many bytes. @defaultValue 60000 */
  maxBatchBytes?: number;
  /** Send whatever is queued this long after the first unsent metric. @defaultValue 1000 */
  flushIntervalMs?: number;
  /** Most metrics held while waiting to send or retry; the oldest are dropped first. @defaultValue 1000 */
  maxQueueSize?: number;
  /** First retry delay cap; delays are `random() * min(maxRetryDelayMs, retryBaseDelayMs * 2^attempt)`. @defaultValue 500 */
  retryBaseDelayMs?: number;
  /** Upper bound of the backoff (a server's `Retry-After` is honoured even when longer). @defaultValue 30000 */
  maxRetryDelayMs?: number;
  /** How long `close()` keeps retrying before dropping what is left. @defaultValue 5000 */
  closeTimeoutMs?: number;
  /** Largest request body sent while the page is being hidden (browsers allow 64 KiB of keepalive bodies in flight). @defaultValue 60000 */
  keepaliveBytes?: number;
  /** Send the queue on `pagehide` / `visibilitychange`→hidden and retry on `online` (browsers only). @defaultValue true */
  lifecycle?: boolean;
  /** Keep metrics that could not be handed to the browser on page hide in `localStorage`, and send them on the next load. @defaultValue false */
  persist?: boolean;
  /** Limits checked before a metric is queued. @defaultValue the server's defaults, see {@link ValidationLimits} */
  limits?: Partial<ValidationLimits>;
  /** `fetch` implementation. @defaultValue `globalThis.fetch` */
  fetch?: typeof fetch;
  /** Called once for every metric given up, with the reason and a message. @defaultValue none */
  onDrop?: (metric: Metric, reason: DropReason, message?: string) => void;
  /** Called for every failed request (network error, HTTP error) and for exceptions thrown by `onDrop`. @defaultValue none */
  onError?: (error: MetricsClientError) => void;
}

/** Counters since the client was created. */
export interface ClientStats {
  /** Metrics the server accepted (or, for `sendBeacon`, handed to the browser). */
  sent: number;
  /** Valid metrics given up (queue bound, 413 for one metric, other HTTP errors, close). */
  dropped: number;
  /** Metrics refused as invalid, by the client or the server. */
  rejected: number;
  /** Metrics not settled yet: waiting, or in a request not answered yet. */
  queued: number;
}

/** The client. No method ever throws; problems go to `onDrop` and `onError`. */
export interface MetricsClient {
  /** Record a gauge sample. */
  gauge(name: string, value: number, tags?: Tags): void;
  /** Record a metric with its own timestamp, tags or profileId. */
  record(metric: MetricInput): void;
  /** Send everything queued now. Resolves `true` when the queue is empty, `false` when a retry is pending. */
  flush(): Promise<boolean>;
  /** Flush, retrying up to `closeTimeoutMs`, then stop; whatever is left is dropped (`closed`). Resolves `true` when nothing was left. */
  close(): Promise<boolean>;
  /** Counters since creation. */
  stats(): ClientStats;
}
