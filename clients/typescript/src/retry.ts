/** Longest wait a server's `Retry-After` can impose: 10 minutes. Longer values are cut to this. */
export const MAX_RETRY_AFTER_MS = 600_000;

/**
 * Full-jitter exponential backoff: a uniform delay in `[0, min(max, base * 2^attempt))`.
 * Jitter spreads the retries of many clients after an outage instead of synchronising them.
 */
export const backoffDelay = (attempt: number, baseMs: number, maxMs: number): number =>
  Math.random() * Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));

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

/**
 * The wait before retrying after a `Retry-After` of `ms`: capped at {@link MAX_RETRY_AFTER_MS}
 * and made up to 20 % longer at random, so that clients told the same delay do not come back
 * in the same millisecond. Never shorter than the server asked for (up to the cap).
 */
export const retryAfterDelay = (ms: number): number => {
  const capped = Math.min(ms, MAX_RETRY_AFTER_MS);
  return capped + Math.random() * capped * 0.2;
};
