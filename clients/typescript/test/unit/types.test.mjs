import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { typecheckSource } from '../support/tsc.mjs';

const CONSUMER = `
import { createMetricsClient, type ClientOptions, type Metric, type MetricType } from '@metrics-collection/client';
import { reportWebVitals } from '@metrics-collection/client/web-vitals';
const options: ClientOptions = { endpoint: 'http://localhost:5000', appId: 'a', profileId: 'p', maxQueueSize: 10 };
const client = createMetricsClient({ ...options, onDrop: (m: Metric, reason) => { const r: 'queue_full' | string = reason; void r; } });
client.gauge('cpu', 1, { host: 'h' });
client.counter('checkouts', 1, { shop: 'eu' });
client.observe('render_ms', 42);
const kind: MetricType = 'histogram';
client.record({ name: 'jobs', value: 1, type: kind });
client.record({ name: 'jobs', value: 1, type: 'counter' });
const sent: Metric = { name: 'n', value: 1, profileId: 'p', type: 'counter' };
void sent;
// @ts-expect-error only gauge, counter and histogram are types
client.record({ name: 'jobs', value: 1, type: 'summary' });
// @ts-expect-error an increment must be a number
client.counter('checkouts', '1');
// @ts-expect-error the web-vitals helper needs observe
reportWebVitals({ gauge: () => {} }, {});
const done: Promise<boolean> = client.close();
void done;
reportWebVitals(client, { onLCP: (cb) => cb({ name: 'LCP', value: 1 }) });
// @ts-expect-error value must be a number
client.gauge('cpu', '1');
// @ts-expect-error appId is required
createMetricsClient({ endpoint: 'x', profileId: 'p' });
`;

// Only in a program that has the DOM typings: the standard fetch fits the `fetch` option.
const DOM_CONSUMER = `
import { createMetricsClient } from '@metrics-collection/client';
createMetricsClient({ endpoint: 'x', appId: 'a', profileId: 'p', fetch: globalThis.fetch });
createMetricsClient({ endpoint: 'x', appId: 'a', profileId: 'p', fetch: (url, init) => fetch(url, init) });
`;

/**
 * Type-checks CONSUMER as an application would compile it, in the given module mode; `lib`
 * defaults to what TypeScript picks for the target (ES2022 and the DOM).
 */
function typecheck(ext, module, { lib, source = CONSUMER } = {}) {
  return typecheckSource(`consumer.${ext}`, source, { module, moduleResolution: module, ...(lib && { lib }) });
}

describe('type declarations', () => {
  it('type_check_an_es_module_consumer_through_the_package_exports', () => {
    assert.equal(typecheck('mts', 'nodenext'), '');
  });

  it('type_check_a_commonjs_consumer_through_the_package_exports', () => {
    assert.equal(typecheck('cts', 'nodenext'), '');
  });

  // Finding 11: a Node program compiled without the DOM typings and without @types/node.
  it('type_check_without_dom_typings_or_types_node_lib_es2022_only', () => {
    assert.equal(typecheck('mts', 'nodenext', { lib: ['ES2022'] }), '');
    assert.equal(typecheck('cts', 'nodenext', { lib: ['ES2022'] }), '');
  });

  it('accept_the_standard_fetch_as_the_fetch_option_where_the_dom_typings_exist', () => {
    assert.equal(typecheck('mts', 'nodenext', { source: DOM_CONSUMER }), '');
  });
});
