/**
 * Wire types of the Metrics Collection API ingest route, spelled exactly as the API spells them.
 *
 * These are checked against `api/openapi.yaml` by `test/contract/openapi-drift.test.mjs`: field
 * names and required-ness must match the spec's Metric, ingest response and error schemas.
 */

/** String-to-string labels attached to a metric. */
export type Tags = Record<string, string>;

/**
 * How the service aggregates a metric's values over every client of the app and tag set:
 * - `gauge` (the default): the newest sample wins; exposed as `client_metric_<name>`.
 * - `counter`: each value is a non-negative increment, summed; exposed as `client_metric_<name>_total`.
 * - `histogram`: each value is one observation, counted into buckets; exposed as
 *   `client_metric_<name>_bucket{le=…}`, `_sum` and `_count`.
 *
 * One name has one type within an app: a name already used with another type is refused.
 */
export type MetricType = 'gauge' | 'counter' | 'histogram';

/** One metric as sent in `POST /api/v2/app/{app_id}/metrics`. */
export interface Metric {
  /** Metric name, 1..200 UTF-8 bytes (server `MAX_NAME_BYTES`). */
  name: string;
  /** Finite number (not negative for a counter); strings, booleans and null are rejected by the server. */
  value: number;
  /** Milliseconds since the epoch, integer, >= 0; absent means "time the server received it". */
  timestamp?: number;
  /** At most 32 tags; key 1..100 bytes, value 0..1024 bytes. Absent means `{}`. */
  tags?: Tags;
  /** Who reported the metric, 1..256 bytes. */
  profileId: string;
  /** How the service aggregates it; absent means `gauge` (the SDK never sends `"gauge"`). */
  type?: MetricType;
}

/** Request body of the ingest route. */
export interface IngestRequest {
  metrics: Metric[];
}

/** One item the server refused, by its position in the request's `metrics` array. */
export interface RejectedItem {
  /** Index of the metric in the request batch. */
  index: number;
  /** The offending field, e.g. `value`. */
  field: string;
  /** Why it was refused, e.g. `must be a number`. */
  error: string;
}

/** One entry of an error's `details`; `index` is absent for request-level errors such as `invalid_app_id`. */
export interface ErrorDetail {
  /** Index of the metric in the request batch, when the error is about one metric. */
  index?: number;
  field: string;
  error: string;
}

/** 200 answer of the ingest route: sent once every accepted metric is durably stored. */
export interface IngestResponse {
  accepted: number;
  rejected: RejectedItem[];
}

/** The `error` member of every non-2xx answer. */
export interface ErrorBody {
  /** Machine-readable code, e.g. `batch_too_large`, `unavailable`. */
  code: string;
  message: string;
  /** Per-item errors (may be empty). */
  details: ErrorDetail[];
}

/** Body of every non-2xx answer. */
export interface ErrorResponse {
  error: ErrorBody;
}
