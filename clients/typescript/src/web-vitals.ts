import type { MetricsClient } from './options.js';
import type { Tags } from './wire.js';

/** The part of a `web-vitals` metric this helper reads. */
export interface WebVitalsMetric {
  /** `CLS`, `INP`, `LCP`, `FCP` or `TTFB`. */
  name: string;
  /** Milliseconds, except CLS which is unitless. */
  value: number;
}

/** Signature of `onCLS`, `onINP`, ... from the `web-vitals` package. */
export type WebVitalsReporter = (
  callback: (metric: WebVitalsMetric) => void,
  options?: { reportAllChanges?: boolean },
) => void;

/** The `web-vitals` functions the host application passes in; any may be left out. */
export interface WebVitalsFunctions {
  onCLS?: WebVitalsReporter;
  onINP?: WebVitalsReporter;
  onLCP?: WebVitalsReporter;
  onFCP?: WebVitalsReporter;
  onTTFB?: WebVitalsReporter;
}

/** Options of {@link reportWebVitals}. */
export interface WebVitalsOptions {
  /** Prefix of the histogram names, followed by the lower-case vital name. @defaultValue `"web_vitals_"` */
  prefix?: string;
  /** Tags added to every vital. @defaultValue `{}` */
  tags?: Tags;
  /**
   * Passed to `web-vitals`: report every change instead of final values. Each report is one
   * observation of the histogram, so this counts a page load several times. @defaultValue false
   */
  reportAllChanges?: boolean;
}

/**
 * Reports Core Web Vitals through `client` as histograms (`client.observe`): `web_vitals_lcp`,
 * `web_vitals_inp`, `web_vitals_fcp`, `web_vitals_ttfb` in ms and `web_vitals_cls` unitless. Each
 * page load is one observation, so the service counts every browser's value into buckets (it has
 * built-in bucket layouts for these names around each vital's good/poor thresholds); a gauge would
 * keep only the last browser's value. The SDK does not depend on `web-vitals`: pass its functions
 * in, e.g. `reportWebVitals(client, { onCLS, onINP, onLCP })`.
 *
 * The `rating` and the per-page-load `id` are deliberately not tags: each distinct tag set is a
 * separate series on the server, and those two would multiply series without bound.
 */
export function reportWebVitals(
  client: Pick<MetricsClient, 'observe'>,
  fns: WebVitalsFunctions,
  options: WebVitalsOptions = {},
): void {
  const prefix = options.prefix ?? 'web_vitals_';
  for (const name of ['onCLS', 'onINP', 'onLCP', 'onFCP', 'onTTFB'] as const) {
    const fn = fns && fns[name];
    if (typeof fn != 'function') continue;
    try {
      fn((m) => client.observe(prefix + String(m.name).toLowerCase(), m.value, options.tags), {
        reportAllChanges: !!options.reportAllChanges,
      });
    } catch {
      // A failing web-vitals function must not break the page; the other vitals still report.
    }
  }
}
