// Type-checks a TypeScript source with the package's own compiler, in a temporary project under
// .drift/ (inside the package, so `@metrics-collection/client` resolves to this package).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Compiles `source` as the file `file` with strict, noEmit, target ES2022 and no ambient types,
 * plus `compilerOptions`. @returns tsc's output: '' when the source type-checks.
 */
export function typecheckSource(file, source, compilerOptions) {
  mkdirSync(join(root, '.drift'), { recursive: true });
  const dir = mkdtempSync(join(root, '.drift', 'tsc-'));
  try {
    writeFileSync(join(dir, file), source);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, target: 'ES2022', types: [], ...compilerOptions },
        files: [file],
      }),
    );
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir, '--pretty', 'false'], {
      encoding: 'utf8',
    });
    return '';
  } catch (e) {
    return String(e.stdout || '') + String(e.stderr || '') || String(e.message);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
