import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

const CONSUMER = `
import { createMetricsClient, type ClientOptions, type Metric } from '@metrics-collection/client';
import { reportWebVitals } from '@metrics-collection/client/web-vitals';
const options: ClientOptions = { endpoint: 'http://localhost:5000', appId: 'a', profileId: 'p', maxQueueSize: 10 };
const client = createMetricsClient({ ...options, onDrop: (m: Metric, reason) => { const r: 'queue_full' | string = reason; void r; } });
client.gauge('cpu', 1, { host: 'h' });
const done: Promise<boolean> = client.close();
void done;
reportWebVitals(client, { onLCP: (cb) => cb({ name: 'LCP', value: 1 }) });
// @ts-expect-error value must be a number
client.gauge('cpu', '1');
// @ts-expect-error appId is required
createMetricsClient({ endpoint: 'x', profileId: 'p' });
`;

/** Type-checks CONSUMER as an application would compile it, in the given module mode. */
function typecheck(ext, module) {
  mkdirSync(join(root, '.drift'), { recursive: true });
  const dir = mkdtempSync(join(root, '.drift', 'types-'));
  try {
    writeFileSync(join(dir, `consumer.${ext}`), CONSUMER);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module, moduleResolution: module, types: [] },
        files: [`consumer.${ext}`],
      }),
    );
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir, '--pretty', 'false'], {
      encoding: 'utf8',
    });
    return '';
  } catch (e) {
    return String(e.stdout || e.message);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('type declarations', () => {
  it('type_check_an_es_module_consumer_through_the_package_exports', () => {
    assert.equal(typecheck('mts', 'nodenext'), '');
  });

  it('type_check_a_commonjs_consumer_through_the_package_exports', () => {
    assert.equal(typecheck('cts', 'nodenext'), '');
  });
});
