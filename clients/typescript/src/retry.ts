/**
 * Full-jitter exponential backoff: a uniform delay in `[0, min(max, base * 2^attempt))`.
 * Jitter spreads the retries of many clients after an outage instead of synchronising them.
 */
export const backoffDelay = (attempt: number, baseMs: number, maxMs: number): number =>
  Math.random() * Math.min(maxMs, baseMs * 2 ** attempt);

/**
 * Parses `Retry-After` in both forms: delay-seconds (`"120"`) and HTTP-date
 * (`"Wed, 21 Oct 2015 07:28:00 GMT"`).
 * @returns the delay in ms (0 for a date in the past), or `undefined` when absent or unparsable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  const ms = /^\d+$/.test(v) ? +v * 1e3 : Date.parse(v) - now;
  return ms >= 0 ? ms : ms < 0 ? 0 : undefined;
}
