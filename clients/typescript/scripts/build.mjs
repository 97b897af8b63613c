// Builds dist/: ESM + declarations (tsc), CommonJS and minified browser bundles (esbuild).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });

execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], {
  stdio: 'inherit',
});

const entries = ['index', 'web-vitals'];
const common = { bundle: true, target: 'es2022', logLevel: 'warning', legalComments: 'none' };
for (const entry of entries) {
  await build({
    ...common,
    entryPoints: [join(root, `src/${entry}.ts`)],
    format: 'cjs',
    platform: 'neutral',
    outfile: join(dist, `cjs/${entry}.js`),
  });
}
// dist/cjs holds CommonJS inside a "type": "module" package.
writeFileSync(join(dist, 'cjs/package.json'), '{ "type": "commonjs" }\n');
for (const f of readdirSync(join(dist, 'esm')))
  if (f.endsWith('.d.ts')) copyFileSync(join(dist, 'esm', f), join(dist, 'cjs', f));

mkdirSync(join(dist, 'browser'), { recursive: true });
const esm = await build({
  ...common,
  entryPoints: [join(root, 'src/index.ts')],
  format: 'esm',
  minify: true,
  metafile: true,
  outfile: join(dist, 'browser/metrics-client.min.mjs'),
});
// The IIFE assigns a plain object of the entry's exports to the global. esbuild's own `globalName`
// wraps them in a module namespace with getters, whose helpers cost ~200 B of the core's budget.
const names = Object.values(esm.metafile.outputs).flatMap((o) => o.exports);
await build({
  ...common,
  stdin: {
    contents: `import { ${names} } from './src/index.ts';\nglobalThis.MetricsCollection = { ${names} };\n`,
    resolveDir: root,
    loader: 'ts',
  },
  format: 'iife',
  // Strict, as the module code it is made of (and as the earlier bundle was).
  banner: { js: '"use strict";' },
  minify: true,
  outfile: join(dist, 'browser/metrics-client.min.js'),
});
await build({
  ...common,
  entryPoints: [join(root, 'src/web-vitals.ts')],
  format: 'iife',
  globalName: 'MetricsCollectionWebVitals',
  minify: true,
  outfile: join(dist, 'browser/web-vitals.min.js'),
});
