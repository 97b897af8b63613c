// Compares the SDK's wire types (src/wire.ts) with the ingest route's schemas in an OpenAPI
// document: same field names, same required-ness. The spec side is read with `yaml`; the SDK side
// is checked by the TypeScript compiler itself, so the check follows the real declarations.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const INGEST = '/api/v2/app/{app_id}/metrics';

/** Each spec schema reached from the ingest route, paired with the SDK type that must match it. */
const PAIRS = [
  ['request body', (s) => s.request, 'Sdk.IngestRequest'],
  ['Metric', (s) => s.metric, 'Sdk.Metric'],
  ['Metric (as request item)', (s) => s.metric, "Sdk.IngestRequest['metrics'][number]"],
  ['200 ingest response', (s) => s.ok, 'Sdk.IngestResponse'],
  ['200 rejected item', (s) => s.rejected, "Sdk.IngestResponse['rejected'][number]"],
  ['error response', (s) => s.error, 'Sdk.ErrorResponse'],
  ['error body', (s) => s.errorBody, "Sdk.ErrorResponse['error']"],
  ['error detail', (s) => s.errorDetail, "Sdk.ErrorResponse['error']['details'][number]"],
];

/** Finds the schemas of the ingest route; returns `{ schemas, problems }`. */
export function ingestSchemas(doc) {
  const problems = [];
  const deref = (node, where) => {
    for (let i = 0; node && node.$ref && i < 20; i++) {
      const path = node.$ref
        .replace(/^#\//, '')
        .split('/')
        .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
      node = path.reduce((n, k) => (n == null ? n : n[k]), doc);
    }
    if (node == null) problems.push(`spec: cannot resolve ${where}`);
    return node;
  };
  const jsonSchema = (response, where) => {
    const r = deref(response, where);
    const media = r && r.content && r.content['application/json'];
    return media
      ? deref(media.schema, where + ' schema')
      : (problems.push(`spec: ${where} has no application/json content`), undefined);
  };
  const prop = (schema, name, where) =>
    deref(schema && schema.properties && schema.properties[name], `${where}.${name}`);
  const items = (schema, where) => deref(schema && schema.items, `${where}[]`);

  const post = doc && doc.paths && doc.paths[INGEST] && doc.paths[INGEST].post;
  if (!post) return { schemas: {}, problems: [`spec: no POST ${INGEST}`] };
  const body = deref(post.requestBody, 'requestBody');
  const request =
    body &&
    body.content &&
    deref(body.content['application/json'] && body.content['application/json'].schema, 'request schema');
  const metric = items(prop(request, 'metrics', 'request'), 'request.metrics');
  const ok = jsonSchema(post.responses && post.responses['200'], 'response 200');
  const rejected = items(prop(ok, 'rejected', '200'), '200.rejected');
  const error = jsonSchema(post.responses && post.responses['400'], 'response 400');
  const errorBody = prop(error, 'error', '400');
  const errorDetail = items(prop(errorBody, 'details', '400.error'), '400.error.details');
  const schemas = { request, metric, ok, rejected, error, errorBody, errorDetail };

  // Every other error answer of the route must share the 400 error shape.
  for (const [status, response] of Object.entries(post.responses || {})) {
    if (/^2/.test(status) || status == '400') continue;
    const s = jsonSchema(response, `response ${status}`);
    if (s && error && JSON.stringify(shape(s, deref)) != JSON.stringify(shape(error, deref)))
      problems.push(`spec: response ${status} does not use the same error schema as 400`);
  }
  return { schemas, problems };
}

// Field names and required-ness, recursively (for comparing error schemas with each other).
function shape(schema, deref, depth = 0) {
  if (!schema || depth > 5) return null;
  const out = { required: [...(schema.required || [])].sort(), properties: {} };
  for (const [k, v] of Object.entries(schema.properties || {})) {
    const r = deref(v, k);
    out.properties[k] = shape(r && r.type == 'array' ? deref(r.items, k) : r, deref, depth + 1);
  }
  return out;
}

const fieldsOf = (schema) => {
  const required = new Set(schema.required || []);
  return Object.keys(schema.properties || {}).map((name) => ({ name, required: required.has(name) }));
};

/**
 * Checks the OpenAPI document text against src/wire.ts.
 * @returns a list of human-readable problems; empty when the SDK types match the spec.
 */
export function checkDrift(specText) {
  const { schemas, problems } = ingestSchemas(parse(specText));
  if (problems.length) return problems;

  const lines = [
    // check.ts lives in .drift/check-XXXXXX/.
    "import type * as Sdk from '../../src/wire.js';",
    'type RequiredKeys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? never : K }[keyof T];',
    'type None<T extends never> = T;',
  ];
  const checks = new Map(); // line number (1-based) -> description
  PAIRS.forEach(([label, pick, sdk], i) => {
    const spec = `Spec${i}`;
    const fields = fieldsOf(pick(schemas));
    lines.push(
      `interface ${spec} { ${fields.map((f) => `${JSON.stringify(f.name)}${f.required ? '' : '?'}: unknown;`).join(' ')} }`,
    );
    const add = (what, expr) => {
      lines.push(`type Check${i}_${checks.size} = None<${expr}>;`);
      checks.set(lines.length, `${label}: ${what}`);
    };
    add('field(s) in the spec but missing from the SDK type', `Exclude<keyof ${spec}, keyof ${sdk}>`);
    add('field(s) in the SDK type but not in the spec', `Exclude<keyof ${sdk}, keyof ${spec}>`);
    add(
      'required in the spec but optional in the SDK type',
      `Extract<Exclude<RequiredKeys<${spec}>, RequiredKeys<${sdk}>>, keyof ${sdk}>`,
    );
    add(
      'optional in the spec but required in the SDK type',
      `Extract<Exclude<RequiredKeys<${sdk}>, RequiredKeys<${spec}>>, keyof ${spec}>`,
    );
  });

  mkdirSync(join(root, '.drift'), { recursive: true });
  const dir = mkdtempSync(join(root, '.drift', 'check-'));
  try {
    writeFileSync(join(dir, 'check.ts'), lines.join('\n') + '\n');
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'ES2022',
          module: 'ES2022',
          moduleResolution: 'bundler',
          types: [],
          skipLibCheck: true,
          noUnusedLocals: false,
        },
        files: ['check.ts'],
      }),
    );
    let out = '';
    try {
      execFileSync(
        process.execPath,
        [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'],
        { encoding: 'utf8' },
      );
    } catch (e) {
      out = String(e.stdout || '') + String(e.stderr || '');
    }
    const found = [];
    for (const m of out.matchAll(/check\.ts\((\d+),\d+\): error TS\d+: (.*)/g)) {
      const what = checks.get(+m[1]);
      const type = /Type '(.*)' does not satisfy the constraint 'never'/.exec(m[2]);
      found.push(what && type ? `${what}: ${type[1]}` : `type check failed: ${m[0]}`);
    }
    if (!found.length && out.trim()) found.push(`tsc failed: ${out.trim()}`);
    return found;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
