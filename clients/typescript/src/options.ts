import type { Metric, MetricType, Tags } from './wire.js';

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
 * - `http_error`: any other non-retryable answer (401, 403, 404, 415, ...).
 * - `closed`: recorded after `close()`, or not delivered when `close()` reached its deadline.
 * - `disabled`: recorded on a client that could not be created (bad `endpoint` or `appId`).
 */
export type DropReason = 'invalid' | 'rejected' | 'queue_full' | 'too_large' | 'http_error' | 'closed' | 'disabled';

/** Error passed to `onError`: transport failures, HTTP errors, bad options, and exceptions thrown by callbacks. */
export interface MetricsClientError extends Error {
  /** HTTP status when the server answered. */
  status?: number;
  /** The server's `error.code`, e.g. `unavailable`; `invalid_option` for an option that was replaced. */
  code?: string;
}

/** A metric as the application records it; the client fills in the rest. */
export interface MetricInput {
  name: string;
  value: number;
  /** @defaultValue the time of the call, `Date.now()` */
  timestamp?: number;
  /** Merged over the client's `tags`; numbers and booleans become strings. */
  tags?: TagsInput;
  /** @defaultValue the client's `profileId` */
  profileId?: string;
  /** How the service aggregates it (see {@link MetricType}). @defaultValue `"gauge"` */
  type?: MetricType;
}

/** Tags as the application may pass them: numbers and booleans are sent as their string form. */
export type TagsInput = Record<string, string | number | boolean>;

/** What the client reads of a `fetch` response (a subset of the standard `Response`). */
export interface FetchResponse {
  status: number;
  headers?: { get(name: string): string | null };
  json(): Promise<unknown>;
}

/** What the client passes to `fetch` (a subset of the standard `RequestInit`). */
export interface FetchInit {
  method: string;
  headers: Record<string, string>;
  body: any;
  keepalive: boolean;
  signal: any;
}

/** A `fetch`-compatible function; `globalThis.fetch` is one. Declared here so that no DOM typings are needed. */
export type FetchFunction = (url: string, init: FetchInit) => Promise<FetchResponse>;

/**
 * Options of {@link createMetricsClient}. Only `endpoint`, `appId` and `profileId` are required.
 * A numeric option that is not a number, or lies outside its range, is replaced by its default or
 * clamped into the range, and `onError` is told (`code: "invalid_option"`).
 */
export interface ClientOptions {
  /** Base URL of the service, e.g. `https://metrics.example.com`. */
  endpoint: string;
  /** Application id, `^[A-Za-z0-9._-]{1,64}$`. */
  appId: string;
  /** Default `profileId` of every metric (the user, device or process reporting). */
  profileId: string;
  /**
   * Ingest key of the service (`API_KEYS_FILE`). Sent as `Authorization: Bearer <key>`, and as the
   * `api_key` query parameter on `sendBeacon`, which cannot set headers. @defaultValue none
   */
  apiKey?: string;
  /** Tags added to every metric; a metric's own tags win. @defaultValue `{}` */
  tags?: TagsInput;
  /** Send when this many metrics are queued; 1..1000 (server `MAX_BATCH_METRICS`). @defaultValue 100 */
  maxBatchSize?: number;
  /** Send when a batch's JSON body would reach this many bytes; 1024..1048576. @defaultValue 60000 */
  maxBatchBytes?: number;
  /** Send whatever is queued this long after the first unsent metric; 0..3600000. @defaultValue 1000 */
  flushIntervalMs?: number;
  /** Most metrics held while waiting to send or retry, oldest dropped first; 1..100000. @defaultValue 1000 */
  maxQueueSize?: number;
  /** Requests in flight at once, so that one hung request does not stop the queue; 1..6. @defaultValue 2 */
  maxConcurrentRequests?: number;
  /** A request not answered within this many ms is aborted and retried; 100..600000. @defaultValue 10000 */
  requestTimeoutMs?: number;
  /** First retry delay cap; delays are `random() * min(maxRetryDelayMs, retryBaseDelayMs * 2^attempt)`; 1..600000. @defaultValue 500 */
  retryBaseDelayMs?: number;
  /** Upper bound of the backoff; 1..600000. A server's `Retry-After` is honoured up to 600 s. @defaultValue 30000 */
  maxRetryDelayMs?: number;
  /** Hard deadline of `close()` and `flush()` in ms; 0..600000. @defaultValue 5000 */
  closeTimeoutMs?: number;
  /** Largest request body sent while the page is being hidden; 1024..65536 (browsers allow 64 KiB of keepalive bodies in flight per page). @defaultValue 60000 */
  keepaliveBytes?: number;
  /** Send the queue on `pagehide` / `visibilitychange`→hidden and retry on `online` (browsers only). @defaultValue true */
  lifecycle?: boolean;
  /** While the page is hidden, keep every metric not yet acknowledged in `localStorage` and send it on the next load. @defaultValue false */
  persist?: boolean;
  /** Limits checked before a metric is queued. @defaultValue the server's defaults, see {@link ValidationLimits} */
  limits?: Partial<ValidationLimits>;
  /** `fetch` implementation. @defaultValue `globalThis.fetch` */
  fetch?: FetchFunction;
  /** Called once for every metric given up, with the reason and a message. @defaultValue none */
  onDrop?: (metric: Metric, reason: DropReason, message?: string) => void;
  /** Called for every failed request, for options replaced by their default, and for exceptions thrown by `onDrop`. @defaultValue none */
  onError?: (error: MetricsClientError) => void;
}

/** Options of `flush()` and `close()`. */
export interface DeadlineOptions {
  /** Hard deadline in ms. @defaultValue the client's `closeTimeoutMs` */
  timeoutMs?: number;
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
  /** Record a gauge sample: the service keeps the newest value of the series. */
  gauge(name: string, value: number, tags?: TagsInput): void;
  /**
   * Add `increment` (finite, not negative) to a counter: the service sums the increments of every
   * client of the app and tag set into `client_metric_<name>_total`.
   */
  counter(name: string, increment: number, tags?: TagsInput): void;
  /**
   * Record one observation of a histogram: the service counts the observations of every client of
   * the app and tag set into `client_metric_<name>_bucket{le=…}`, `_sum` and `_count`.
   */
  observe(name: string, value: number, tags?: TagsInput): void;
  /** Record a metric with its own timestamp, tags, profileId or type. */
  record(metric: MetricInput): void;
  /**
   * Send everything queued now, ignoring any backoff. Resolves `true` when nothing is left, `false`
   * when a request failed (a retry is scheduled) or the deadline passed; never later than the deadline.
   */
  flush(options?: DeadlineOptions): Promise<boolean>;
  /**
   * The way to flush before exit: sends and retries until everything is delivered or the deadline
   * passes, then stops; whatever is not delivered by then is dropped (`closed`). Resolves `true`
   * when nothing was left, never later than the deadline.
   */
  close(options?: DeadlineOptions): Promise<boolean>;
  /** Counters since creation. */
  stats(): ClientStats;
}
