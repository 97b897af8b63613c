import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { checkDrift } from './openapi-drift.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const specPath = process.env.MCA_OPENAPI || join(here, '../../../../api/openapi.yaml');
const fixture = readFileSync(join(here, 'fixtures/contract.yaml'), 'utf8');

describe('sdk wire types against the OpenAPI document', () => {
  it('match_the_ingest_schemas_of_api_openapi_yaml', async () => {
    assert.ok(
      existsSync(specPath),
      `api/openapi.yaml not found at ${specPath}: the SDK types cannot be checked against the spec`,
    );
    assert.deepEqual(await checkDrift(readFileSync(specPath, 'utf8')), []);
  });

  it('match_the_http_contract_fixture', async () => {
    assert.deepEqual(await checkDrift(fixture), []);
  });

  it('report_a_renamed_field_a_changed_required_list_and_a_removed_field', async () => {
    const doc = parse(fixture);
    const metric = doc.components.schemas.Metric;
    metric.properties.profile_id = metric.properties.profileId;
    delete metric.properties.profileId;
    metric.required = ['name', 'value', 'profile_id', 'tags'];
    delete doc.components.schemas.Error.properties.error.properties.message;
    const problems = await checkDrift(stringify(doc));
    for (const problem of [
      'Metric: field(s) in the spec but missing from the SDK type: "profile_id"',
      'Metric: field(s) in the SDK type but not in the spec: "profileId"',
      'Metric: required in the spec but optional in the SDK type: "tags"',
      'error body: field(s) in the SDK type but not in the spec: "message"',
    ])
      assert.ok(problems.includes(problem), problems.join('\n'));
  });

  it('report_an_error_status_whose_body_differs_from_the_400_error_shape', async () => {
    const doc = parse(fixture);
    doc.paths['/api/v2/app/{app_id}/metrics'].post.responses['503'] = {
      content: { 'application/json': { schema: { type: 'object', properties: { message: { type: 'string' } } } } },
    };
    assert.deepEqual(await checkDrift(stringify(doc)), [
      'spec: response 503 does not use the same error schema as 400',
    ]);
  });

  it('report_a_spec_without_the_ingest_route', async () => {
    assert.deepEqual(await checkDrift('openapi: 3.0.3\npaths: {}\n'), ['spec: no POST /api/v2/app/{app_id}/metrics']);
  });

  // Finding 10: each mutation of the real spec is caught, with a message that names it.
  const ingest = (doc) => doc.paths['/api/v2/app/{app_id}/metrics'];
  const schemas = (doc) => doc.components.schemas;
  const MUTATIONS = [
    [
      'value_type_to_string',
      (d) => (schemas(d).Metric.properties.value.type = 'string'),
      /^Metric: field type: the SDK's type does not fit the spec's string: "value"$/,
    ],
    [
      'name_limit_200_to_100',
      (d) => (schemas(d).Metric.properties.name.maxLength = 100),
      /^Metric\.name: 101 characters \(maxLength \+ 1\): the spec refuses it, the SDK accepts it$/,
    ],
    [
      'tag_values_to_integer',
      (d) => (schemas(d).Metric.properties.tags.additionalProperties.type = 'integer'),
      /^Metric: field type: the SDK's type does not fit the spec's \(\{ \[key: string\]: number; \}\) \| null: "tags"$/,
    ],
    [
      'batch_limit_1000_to_10',
      (d) => (schemas(d).MetricBatch.properties.metrics.maxItems = 10),
      /^request body\.metrics: the spec allows 10 items \(maxItems\), the SDK sends batches of up to 1000$/,
    ],
    [
      'tag_count_32_to_16',
      (d) => (schemas(d).Metric.properties.tags.maxProperties = 16),
      /^Metric\.tags: 17 tags \(maxProperties \+ 1\): the spec refuses it, the SDK accepts it$/,
    ],
    [
      'profile_id_limit_256_to_300',
      (d) => (schemas(d).Metric.properties.profileId.maxLength = 300),
      /^Metric\.profileId: 300 characters \(maxLength\): the spec accepts it, the SDK refuses it$/,
    ],
    [
      'rejected_item_index_to_string',
      (d) => (schemas(d).Rejection.properties.index.type = 'string'),
      /^200 rejected item: field type: the spec's string does not fit the SDK's type: "index"$/,
    ],
    [
      'app_id_limit_64_to_32',
      (d) => {
        const appId = d.components.parameters.AppId.schema;
        appId.maxLength = 32;
        appId.pattern = '^[A-Za-z0-9._-]{1,32}$';
      },
      /^app_id: "64 characters": the spec refuses it, the SDK accepts it$/,
    ],
    [
      'profile_id_to_an_enum',
      (d) => (schemas(d).Metric.properties.profileId.enum = ['web', 'ios']),
      /^Metric: field type: the SDK's type does not fit the spec's "web" \| "ios": "profileId"$/,
    ],
    [
      'type_enum_without_histogram',
      (d) => (schemas(d).Metric.properties.type.enum = ['gauge', 'counter']),
      /^Metric: field type: the SDK's type does not fit the spec's \(?"gauge" \| "counter"\)?( \| null)?: "type"$/,
    ],
    [
      'type_enum_with_summary',
      (d) => schemas(d).Metric.properties.type.enum.push('summary'),
      /^Metric\.type: "summary": the spec accepts it, the SDK refuses it$/,
    ],
    [
      'type_removed',
      (d) => delete schemas(d).Metric.properties.type,
      /^Metric: field\(s\) in the SDK type but not in the spec: "type"$/,
    ],
    [
      'timestamp_to_a_fractional_number',
      (d) => (schemas(d).Metric.properties.timestamp.type = 'number'),
      /^Metric\.timestamp: a fractional timestamp: the spec accepts it, the SDK refuses it$/,
    ],
  ];
  const spec = existsSync(specPath) ? readFileSync(specPath, 'utf8') : fixture;
  for (const [name, mutate, expected] of MUTATIONS) {
    it(`catch_the_mutation_${name}`, async () => {
      const doc = parse(spec);
      assert.ok(ingest(doc), 'the spec has the ingest route');
      mutate(doc);
      const problems = await checkDrift(stringify(doc));
      assert.ok(
        problems.some((p) => expected.test(p)),
        `expected a problem matching ${expected}, got:\n${problems.join('\n')}`,
      );
    });
  }
});
