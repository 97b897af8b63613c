export { createMetricsClient, MAX_BATCH_METRICS } from './client.js';
export { MAX_RETRY_AFTER_MS } from './retry.js';
export { DEFAULT_LIMITS, validateMetric } from './validate.js';
export type {
  ClientOptions,
  ClientStats,
  DeadlineOptions,
  DropReason,
  FetchFunction,
  FetchInit,
  FetchResponse,
  MetricInput,
  MetricsClient,
  MetricsClientError,
  TagsInput,
  ValidationLimits,
} from './options.js';
export type {
  ErrorBody,
  ErrorDetail,
  ErrorResponse,
  IngestRequest,
  IngestResponse,
  Metric,
  MetricType,
  RejectedItem,
  Tags,
} from './wire.js';
