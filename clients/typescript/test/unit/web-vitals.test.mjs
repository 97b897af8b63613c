import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reportWebVitals } from '../../dist/esm/web-vitals.js';

const fakeVital = (name, value) => (cb, opts) => cb({ name, value, rating: 'good', id: 'v4-1', opts });

describe('web vitals helper', () => {
  // A gauge keeps only the last browser's value: each page load is one observation of a histogram.
  it('reports_each_vital_passed_in_as_a_histogram_observation_named_after_it', () => {
    const gauges = [];
    const client = {
      observe: (...a) => gauges.push(a),
      gauge: () => assert.fail('a vital must not be reported as a gauge'),
      counter: () => assert.fail('a vital must not be reported as a counter'),
    };
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
    reportWebVitals({ observe: (n) => gauges.push(n) }, { onINP }, { prefix: 'rum_', reportAllChanges: true });
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
        { observe: (n) => gauges.push(n) },
        { onCLS, onFCP: fakeVital('FCP', 900), onINP: 'not a function' },
      ),
    );
    assert.deepEqual(gauges, ['web_vitals_fcp']);
  });
});

describe('web vitals helper with a real client', () => {
  it('sends_each_vital_with_type_histogram_under_web_vitals_and_the_lower_case_name', async () => {
    const { createMetricsClient } = await import('../../dist/esm/index.js');
    const { fakeFetch, base } = await import('../support/fake-fetch.mjs');
    const f = fakeFetch();
    const client = createMetricsClient({ ...base, fetch: f.fetch });
    reportWebVitals(client, {
      onCLS: fakeVital('CLS', 0.05),
      onINP: fakeVital('INP', 180),
      onLCP: fakeVital('LCP', 2300),
      onFCP: fakeVital('FCP', 1200),
      onTTFB: fakeVital('TTFB', 90),
    });
    assert.equal(await client.close(), true);
    assert.deepEqual(
      f.calls.flatMap((c) => c.metrics.map((m) => [m.name, m.value, m.type])),
      [
        ['web_vitals_cls', 0.05, 'histogram'],
        ['web_vitals_inp', 180, 'histogram'],
        ['web_vitals_lcp', 2300, 'histogram'],
        ['web_vitals_fcp', 1200, 'histogram'],
        ['web_vitals_ttfb', 90, 'histogram'],
      ],
    );
  });
});
