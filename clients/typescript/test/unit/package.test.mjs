import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as esm from '@metrics-collection/client';

const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));

describe('package', () => {
  it('has_no_runtime_dependencies', () => {
    assert.equal(pkg.dependencies, undefined);
    assert.equal(pkg.peerDependencies, undefined);
  });

  it('exposes_the_same_api_to_import_and_require', () => {
    const cjs = require('@metrics-collection/client');
    assert.equal(typeof esm.createMetricsClient, 'function');
    assert.equal(typeof cjs.createMetricsClient, 'function');
    assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
    assert.equal(typeof require('@metrics-collection/client/web-vitals').reportWebVitals, 'function');
  });

  it('ships_a_browser_bundle_that_defines_the_global_without_node_globals', async () => {
    const vm = await import('node:vm');
    const code = readFileSync(new URL('../../dist/browser/metrics-client.min.js', import.meta.url), 'utf8');
    const sandbox = { TextEncoder, setTimeout, clearTimeout };
    vm.runInNewContext(code, sandbox);
    assert.equal(typeof sandbox.MetricsCollection.createMetricsClient, 'function');
  });
});
