// Prints the min+gzip size of the browser bundles and fails when the core exceeds its budget.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CORE_BUDGET = 4608;
const files = [
  ['browser/metrics-client.min.js', CORE_BUDGET],
  ['browser/metrics-client.min.mjs', CORE_BUDGET],
  ['browser/web-vitals.min.js', undefined],
];
let failed = false;
for (const [file, budget] of files) {
  const raw = readFileSync(join(root, 'dist', file));
  const gz = gzipSync(raw, { level: 9 }).length;
  const over = budget !== undefined && gz > budget;
  failed ||= over;
  console.log(
    `${file}: ${raw.length} B min, ${gz} B min+gzip${budget ? ` (budget ${budget} B)` : ''}${over ? ' OVER BUDGET' : ''}`,
  );
}
if (failed) process.exit(1);
