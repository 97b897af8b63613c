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
  it('match_the_ingest_schemas_of_api_openapi_yaml', () => {
    assert.ok(
      existsSync(specPath),
      `api/openapi.yaml not found at ${specPath}: the SDK types cannot be checked against the spec`,
    );
    assert.deepEqual(checkDrift(readFileSync(specPath, 'utf8')), []);
  });

  it('match_the_http_contract_fixture', () => {
    assert.deepEqual(checkDrift(fixture), []);
  });

  it('report_a_renamed_field_a_changed_required_list_and_a_removed_field', () => {
    const doc = parse(fixture);
    const metric = doc.components.schemas.Metric;
    metric.properties.profile_id = metric.properties.profileId;
    delete metric.properties.profileId;
    metric.required = ['name', 'value', 'profile_id', 'tags'];
    delete doc.components.schemas.Error.properties.error.properties.message;
    const problems = checkDrift(stringify(doc));
    assert.ok(
      problems.includes('Metric: field(s) in the spec but missing from the SDK type: "profile_id"'),
      problems.join('\n'),
    );
    assert.ok(
      problems.includes('Metric: field(s) in the SDK type but not in the spec: "profileId"'),
      problems.join('\n'),
    );
    assert.ok(
      problems.includes('Metric: required in the spec but optional in the SDK type: "tags"'),
      problems.join('\n'),
    );
    assert.ok(
      problems.includes('error body: field(s) in the SDK type but not in the spec: "message"'),
      problems.join('\n'),
    );
  });

  it('report_an_error_status_whose_body_differs_from_the_400_error_shape', () => {
    const doc = parse(fixture);
    doc.paths['/api/v2/app/{app_id}/metrics'].post.responses['503'] = {
      content: { 'application/json': { schema: { type: 'object', properties: { message: { type: 'string' } } } } },
    };
    assert.deepEqual(checkDrift(stringify(doc)), ['spec: response 503 does not use the same error schema as 400']);
  });

  it('report_a_spec_without_the_ingest_route', () => {
    assert.deepEqual(checkDrift('openapi: 3.0.3\npaths: {}\n'), ['spec: no POST /api/v2/app/{app_id}/metrics']);
  });
});
