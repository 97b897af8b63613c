// The SDK's default limits against the limits api/openapi.yaml documents for the server's
// defaults: the schema keywords (maxLength, maxProperties, maxItems) and, for the two limits
// JSON Schema cannot state (tag key length, timestamp skew), the number the description gives
// beside the setting's name. An SDK default above the server's refuses nothing the server would
// refuse; one below it drops metrics the server takes: either way the test fails.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { DEFAULT_LIMITS, MAX_BATCH_METRICS } from '../../dist/esm/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const specPath = process.env.MCA_OPENAPI || join(here, '../../../../api/openapi.yaml');

/** The number a description gives for a setting: "... 1 to 100 bytes (`MAX_TAG_KEY_BYTES`)". */
function documented(text, setting, pattern) {
  const m = (text ?? '').replace(/\s+/g, ' ').match(pattern);
  return m ? Number(m[1]) : `no number for ${setting} in the description`;
}

/** The server's default limits as the spec documents them, by SDK name. */
function specLimits(doc) {
  const metric = doc.components.schemas.Metric.properties;
  return {
    maxNameBytes: metric.name.maxLength,
    maxTags: metric.tags.maxProperties,
    maxTagKeyBytes: documented(
      metric.tags.description,
      'MAX_TAG_KEY_BYTES',
      /keys 1 to (\d+) bytes \(`MAX_TAG_KEY_BYTES`\)/,
    ),
    maxTagValueBytes: metric.tags.additionalProperties.maxLength,
    maxProfileIdBytes: metric.profileId.maxLength,
    maxFutureSkewSeconds: documented(
      metric.timestamp.description,
      'MAX_FUTURE_SKEW_SECONDS',
      /`MAX_FUTURE_SKEW_SECONDS` \((\d+)\)/,
    ),
    maxBatchSize: doc.components.schemas.MetricBatch.properties.metrics.maxItems,
  };
}

/** Each disagreement between the SDK's defaults and the spec, one line each. */
function limitProblems(doc, sdk = { ...DEFAULT_LIMITS, maxBatchSize: MAX_BATCH_METRICS }) {
  const spec = specLimits(doc);
  return Object.keys(spec)
    .filter((k) => spec[k] !== sdk[k])
    .map((k) => `${k}: the SDK's default is ${sdk[k]}, the spec documents ${spec[k]}`);
}

describe('sdk default limits against the OpenAPI document', () => {
  const text = readFileSync(specPath, 'utf8');

  it('equal_the_limits_api_openapi_yaml_documents', () => {
    assert.deepEqual(limitProblems(parse(text)), []);
  });

  it('cover_every_limit_of_the_sdk', () => {
    const covered = Object.keys(specLimits(parse(text)));
    assert.deepEqual(
      Object.keys(DEFAULT_LIMITS).filter((k) => !covered.includes(k)),
      [],
    );
  });

  // Changes the number a Metric field's description gives.
  const reword = (field, from, to) => (d) => {
    const f = d.components.schemas.Metric.properties[field];
    f.description = f.description.replace(from, to);
  };
  const MUTATIONS = [
    ['name', (d) => (d.components.schemas.Metric.properties.name.maxLength = 100), 'maxNameBytes', 100],
    ['tag count', (d) => (d.components.schemas.Metric.properties.tags.maxProperties = 64), 'maxTags', 64],
    ['tag key', reword('tags', 'keys 1 to 100', 'keys 1 to 50'), 'maxTagKeyBytes', 50],
    ['skew', reword('timestamp', '(3600)', '(60)'), 'maxFutureSkewSeconds', 60],
    ['batch', (d) => (d.components.schemas.MetricBatch.properties.metrics.maxItems = 500), 'maxBatchSize', 500],
  ];
  for (const [what, mutate, key, value] of MUTATIONS) {
    it(`report_a_changed_${what.replace(' ', '_')}_limit`, () => {
      const doc = parse(text);
      mutate(doc);
      const problems = limitProblems(parse(stringify(doc)));
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0], new RegExp(`^${key}: the SDK's default is \\d+, the spec documents ${value}$`));
    });
  }
});
