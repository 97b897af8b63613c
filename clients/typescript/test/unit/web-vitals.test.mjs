import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reportWebVitals } from '../../dist/esm/web-vitals.js';

const fakeVital = (name, value) => (cb, opts) => cb({ name, value, rating: 'good', id: 'v4-1', opts });

describe('web vitals helper', () => {
  it('reports_each_vital_passed_in_as_a_gauge_named_after_it', () => {
    const gauges = [];
    const client = { gauge: (...a) => gauges.push(a) };
    reportWebVitals(
      client,
      { onCLS: fakeVital('CLS', 0.12), onLCP: fakeVital('LCP', 2300), onTTFB: fakeVital('TTFB', 80) },
      { tags: { page: '/home' } },
    );
    assert.deepEqual(gauges, [
      ['web_vitals_cls', 0.12, { page: '/home' }],
      ['web_vitals_lcp', 2300, { page: '/home' }],
      ['web_vitals_ttfb', 80, { page: '/home' }],
    ]);
  });

  it('passes_report_all_changes_and_uses_the_prefix_option', () => {
    const seen = [];
    const onINP = (cb, opts) => {
      seen.push(opts);
      cb({ name: 'INP', value: 40 });
    };
    const gauges = [];
    reportWebVitals({ gauge: (n) => gauges.push(n) }, { onINP }, { prefix: 'rum_', reportAllChanges: true });
    assert.deepEqual(seen, [{ reportAllChanges: true }]);
    assert.deepEqual(gauges, ['rum_inp']);
  });

  it('keeps_reporting_the_other_vitals_when_one_web_vitals_function_throws', () => {
    const gauges = [];
    const onCLS = () => {
      throw new Error('not supported');
    };
    assert.doesNotThrow(() =>
      reportWebVitals(
        { gauge: (n) => gauges.push(n) },
        { onCLS, onFCP: fakeVital('FCP', 900), onINP: 'not a function' },
      ),
    );
    assert.deepEqual(gauges, ['web_vitals_fcp']);
  });
});
