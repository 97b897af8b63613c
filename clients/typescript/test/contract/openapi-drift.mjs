// Compares the SDK with the ingest route of an OpenAPI document:
// - field names and required-ness of the wire types (src/wire.ts), and the type of every field,
//   enums included: what the SDK sends must fit the spec's request schemas, what the spec says the
//   server answers must fit the SDK's response types. The spec side is turned into TypeScript
//   types; the TypeScript compiler compares them with the real declarations.
// - lengths, counts, integer-ness, minimums, the metric type's enum and the app_id pattern:
//   probed on the built SDK itself (validateMetric, createMetricsClient) at each limit the spec
//   declares and one past it, so the check follows what the SDK does, not a copy of its constants.
import { parse } from 'yaml';
import { typecheckSource } from '../support/tsc.mjs';

const INGEST = '/api/v2/app/{app_id}/metrics';

/** Each spec schema reached from the ingest route, paired with the SDK type that must match it. */
// `send`: the SDK writes it, so each SDK field type must fit the spec's; `receive`: the server
// writes it, so each spec field type must fit the SDK's.
const PAIRS = [
  ['request body', (s) => s.request, 'Sdk.IngestRequest', 'send'],
  ['Metric', (s) => s.metric, 'Sdk.Metric', 'send'],
  ['Metric (as request item)', (s) => s.metric, "Sdk.IngestRequest['metrics'][number]", 'send'],
  ['200 ingest response', (s) => s.ok, 'Sdk.IngestResponse', 'receive'],
  ['200 rejected item', (s) => s.rejected, "Sdk.IngestResponse['rejected'][number]", 'receive'],
  ['error response', (s) => s.error, 'Sdk.ErrorResponse', 'receive'],
  ['error body', (s) => s.errorBody, "Sdk.ErrorResponse['error']", 'receive'],
  ['error detail', (s) => s.errorDetail, "Sdk.ErrorResponse['error']['details'][number]", 'receive'],
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
  const params = [...(doc.paths[INGEST].parameters || []), ...(post.parameters || [])].map((p) =>
    deref(p, 'parameter'),
  );
  const appIdParam = params.find((p) => p && p.name == 'app_id' && p.in == 'path');
  const appId = appIdParam && deref(appIdParam.schema, 'app_id schema');
  const schemas = { request, metric, ok, rejected, error, errorBody, errorDetail, appId, deref };

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

/** The TypeScript type of the values a schema allows (enums as literal unions, nullable as `| null`). */
function tsType(schema, deref, depth = 0) {
  const s = deref(schema, 'schema');
  if (!s || depth > 6) return 'unknown';
  let t;
  if (Array.isArray(s.enum)) t = s.enum.map((v) => JSON.stringify(v)).join(' | ');
  else if (s.type == 'string') t = 'string';
  else if (s.type == 'number' || s.type == 'integer') t = 'number';
  else if (s.type == 'boolean') t = 'boolean';
  else if (s.type == 'array') t = `Array<${tsType(s.items, deref, depth + 1)}>`;
  else if (s.type == 'object' || s.properties || s.additionalProperties) {
    const required = new Set(s.required || []);
    const members = Object.entries(s.properties || {}).map(
      ([k, v]) => `${JSON.stringify(k)}${required.has(k) ? '' : '?'}: ${tsType(v, deref, depth + 1)};`,
    );
    const extra = s.additionalProperties;
    if (extra && typeof extra == 'object') members.push(`[key: string]: ${tsType(extra, deref, depth + 1)};`);
    else if (extra !== false && !s.properties) members.push('[key: string]: unknown;');
    t = `{ ${members.join(' ')} }`;
  } else t = 'unknown';
  return s.nullable ? `(${t}) | null` : t;
}

const fieldsOf = (schema) => {
  const required = new Set(schema.required || []);
  return Object.keys(schema.properties || {}).map((name) => ({ name, required: required.has(name) }));
};

/** Compiles the spec's schemas as TypeScript types against src/wire.ts. */
function checkTypes(schemas) {
  const lines = [
    // check.ts lives in .drift/check-XXXXXX/.
    "import type * as Sdk from '../../src/wire.js';",
    'type RequiredKeys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? never : K }[keyof T];',
    'type None<T extends never> = T;',
  ];
  const checks = new Map(); // line number (1-based) -> description
  PAIRS.forEach(([label, pick, sdk, direction], i) => {
    const spec = `Spec${i}`;
    const schema = pick(schemas);
    const fields = fieldsOf(schema);
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
    for (const [name, propSchema] of Object.entries(schema.properties || {})) {
      const specType = tsType(propSchema, schemas.deref);
      const sdkType = `Exclude<${sdk}[${JSON.stringify(name)}], undefined>`;
      const [from, to, what] =
        direction == 'send'
          ? [sdkType, specType, `the SDK's type does not fit the spec's ${specType}`]
          : [`Exclude<${specType}, null>`, sdkType, `the spec's ${specType} does not fit the SDK's type`];
      lines.push(`type Type${i}_${checks.size} = None<[${from}] extends [${to}] ? never : ${JSON.stringify(name)}>;`);
      checks.set(lines.length, `${label}: field type: ${what}`);
    }
  });

  const out = typecheckSource('check.ts', lines.join('\n') + '\n', {
    module: 'ES2022',
    moduleResolution: 'bundler',
    skipLibCheck: true,
    noUnusedLocals: false,
  });
  const found = [];
  for (const m of out.matchAll(/check\.ts\((\d+),\d+\): error TS\d+: (.*)/g)) {
    const what = checks.get(+m[1]);
    const type = /Type '(.*)' does not satisfy the constraint 'never'/.exec(m[2]);
    found.push(what && type ? `${what}: ${type[1]}` : `type check failed: ${m[0]}`);
  }
  if (!found.length && out.trim()) found.push(`tsc failed: ${out.trim()}`);
  return found;
}

/**
 * Checks `specText` against the SDK: the types (see checkTypes) and the limits (see checkLimits).
 * @returns a list of human-readable problems; empty when the SDK matches the spec.
 */
export async function checkDrift(specText) {
  const { schemas, problems } = ingestSchemas(parse(specText));
  if (problems.length) return problems;
  return [...checkTypes(schemas), ...(await checkLimits(schemas))];
}

const NOW = Date.now();

/** Probes the built SDK at every limit the spec declares for the ingest route, and one past it. */
async function checkLimits(schemas) {
  const { createMetricsClient, validateMetric, DEFAULT_LIMITS } = await import('../../dist/esm/index.js');
  const problems = [];
  const { deref } = schemas;
  const metricProps = (schemas.metric && schemas.metric.properties) || {};
  const field = (name) => deref(metricProps[name], name) || {};
  const good = { name: 'n', value: 1, timestamp: NOW, profileId: 'p' };
  const valid = (patch) => validateMetric({ ...good, ...patch }, DEFAULT_LIMITS, NOW) === undefined;
  const expect = (where, what, specSays, sdkSays) => {
    if (specSays != sdkSays)
      problems.push(
        `${where}: ${what}: the spec ${specSays ? 'accepts' : 'refuses'} it, the SDK ${sdkSays ? 'accepts' : 'refuses'} it`,
      );
  };
  const text = (n) => 'x'.repeat(n);

  // Text lengths (probed with ASCII, where characters and bytes agree).
  for (const name of ['name', 'profileId']) {
    const f = field(name);
    if (f.maxLength == null) problems.push(`Metric.${name}: the spec declares no maxLength; the SDK limits it`);
    else {
      expect(`Metric.${name}`, `${f.maxLength} characters (maxLength)`, true, valid({ [name]: text(f.maxLength) }));
      expect(
        `Metric.${name}`,
        `${f.maxLength + 1} characters (maxLength + 1)`,
        false,
        valid({ [name]: text(f.maxLength + 1) }),
      );
    }
    const min = f.minLength ?? 0;
    expect(`Metric.${name}`, `${min} characters (minLength)`, true, min == 0 || valid({ [name]: text(min) }));
    if (min > 0)
      expect(`Metric.${name}`, `${min - 1} characters (minLength - 1)`, false, valid({ [name]: text(min - 1) }));
  }

  // Tags: how many, and how long a value.
  const tags = field('tags');
  const tagsOf = (n, value = 'v') => Object.fromEntries(Array.from({ length: n }, (_, i) => ['k' + i, value]));
  if (tags.maxProperties == null)
    problems.push('Metric.tags: the spec declares no maxProperties; the SDK limits the count');
  else {
    expect(
      'Metric.tags',
      `${tags.maxProperties} tags (maxProperties)`,
      true,
      valid({ tags: tagsOf(tags.maxProperties) }),
    );
    expect(
      'Metric.tags',
      `${tags.maxProperties + 1} tags (maxProperties + 1)`,
      false,
      valid({ tags: tagsOf(tags.maxProperties + 1) }),
    );
  }
  const tagValue = deref(tags.additionalProperties, 'tags values') || {};
  if (tagValue.maxLength == null)
    problems.push('Metric.tags: the spec declares no maxLength for values; the SDK limits them');
  else {
    expect(
      'Metric.tags',
      `a value of ${tagValue.maxLength} characters (maxLength)`,
      true,
      valid({ tags: tagsOf(1, text(tagValue.maxLength)) }),
    );
    expect(
      'Metric.tags',
      `a value of ${tagValue.maxLength + 1} characters (maxLength + 1)`,
      false,
      valid({ tags: tagsOf(1, text(tagValue.maxLength + 1)) }),
    );
  }

  // Numbers: integer-ness and minimum of the timestamp, finiteness of the value.
  const ts = field('timestamp');
  expect('Metric.timestamp', 'a fractional timestamp', ts.type != 'integer', valid({ timestamp: NOW - 0.5 }));
  if (ts.minimum != null) {
    expect('Metric.timestamp', `${ts.minimum} (minimum)`, true, valid({ timestamp: ts.minimum }));
    expect('Metric.timestamp', `${ts.minimum - 1} (minimum - 1)`, false, valid({ timestamp: ts.minimum - 1 }));
  }
  const value = field('value');
  expect('Metric.value', 'a fractional value', value.type == 'number', valid({ value: 0.5 }));

  // The metric type: the SDK must accept exactly the spec's enum (the compiler compares the
  // TypeScript union; this probes what the built SDK's validation lets through).
  const type = field('type');
  if (!Array.isArray(type.enum))
    problems.push('Metric.type: the spec declares no enum; the SDK accepts only its types');
  else
    for (const t of new Set([...type.enum, 'gauge', 'counter', 'histogram', 'summary', 'Counter', '']))
      expect('Metric.type', JSON.stringify(t), type.enum.includes(t), valid({ type: t }));

  // The batch: the largest request the SDK makes must be the spec's maxItems.
  const metrics =
    deref(schemas.request && schemas.request.properties && schemas.request.properties.metrics, 'metrics') || {};
  if (metrics.maxItems == null)
    problems.push('request body.metrics: the spec declares no maxItems; the SDK limits its batches');
  else {
    const sizes = [];
    const client = createMetricsClient({
      endpoint: 'http://spec.test',
      appId: 'a',
      profileId: 'p',
      maxBatchSize: 1e9,
      maxBatchBytes: 1048576,
      flushIntervalMs: 3600000,
      maxQueueSize: 100000,
      onError: () => {},
      fetch: async (url, init) => {
        const n = JSON.parse(init.body).metrics.length;
        sizes.push(n);
        return { status: 200, json: async () => ({ accepted: n, rejected: [] }) };
      },
    });
    for (let i = 0; i < 2 * Math.max(metrics.maxItems, 1000) + 1; i++) client.gauge('m', i);
    await client.close();
    const largest = Math.max(...sizes);
    if (largest != metrics.maxItems)
      problems.push(
        `request body.metrics: the spec allows ${metrics.maxItems} items (maxItems), the SDK sends batches of up to ${largest}`,
      );
  }

  // app_id: the SDK must accept exactly the ids the spec's pattern and lengths accept.
  const appId = schemas.appId;
  if (!appId) problems.push('app_id: the spec declares no schema for the path parameter');
  else {
    const specAccepts = (id) =>
      (appId.pattern == null || new RegExp(appId.pattern, 'u').test(id)) &&
      id.length >= (appId.minLength ?? 0) &&
      id.length <= (appId.maxLength ?? Infinity);
    const sdkAccepts = (id) => {
      let ok = true;
      createMetricsClient({ endpoint: 'http://spec.test', appId: id, profileId: 'p', onError: () => (ok = false) });
      return ok;
    };
    const max = appId.maxLength ?? 64;
    for (const id of ['a', 'A.b_c-9', text(max), text(max + 1), text(64), text(65), 'a b', 'a/b', 'é', '', 'a%2F'])
      expect(
        'app_id',
        JSON.stringify(id.length > 12 ? `${id.length} characters` : id),
        specAccepts(id),
        sdkAccepts(id),
      );
  }
  return problems;
}
