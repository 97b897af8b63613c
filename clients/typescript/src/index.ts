export { createMetricsClient } from './client.js';
export { DEFAULT_LIMITS, validateMetric } from './validate.js';
export type {
  ClientOptions,
  ClientStats,
  DropReason,
  MetricInput,
  MetricsClient,
  MetricsClientError,
  ValidationLimits,
} from './options.js';
export type {
  ErrorBody,
  ErrorDetail,
  ErrorResponse,
  IngestRequest,
  IngestResponse,
  Metric,
  RejectedItem,
  Tags,
} from './wire.js';
