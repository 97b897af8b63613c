import { utf8Length } from './validate.js';
import type { Metric } from './wire.js';

/** A queued metric with its JSON text, serialised once so batches can be sized in bytes. */
export interface Entry {
  /** The metric. */
  m: Metric;
  /** Its JSON text. */
  s: string;
  /** Length of `s` in UTF-8 bytes. */
  b: number;
}

const json = JSON.stringify;

/**
 * JSON text of a number the service can parse: integers beyond 2^53 (which JavaScript cannot hold
 * exactly anyway) are written in exponent form, `1.8446744073709552e+19`, so that they are read as
 * the same double. `JSON.stringify(2 ** 64)` would write a 20-digit integer, which a parser with
 * 64-bit integers refuses, failing the whole request body.
 */
export const numberText = (v: number): string => (Math.abs(v) > 2 ** 53 ? v.toExponential() : json(v));

/** A metric as it goes on the wire; fields in the API's order, `timestamp`, `tags` and `type` only when present. */
export function toEntry(m: Metric): Entry {
  const s =
    '{"name":' +
    json(m.name) +
    ',"value":' +
    numberText(m.value) +
    (m.timestamp != null ? ',"timestamp":' + numberText(m.timestamp) : '') +
    (m.tags ? ',"tags":' + json(m.tags) : '') +
    ',"profileId":' +
    json(m.profileId) +
    // A gauge carries no type: its body is the same as before types existed.
    (m.type && m.type != 'gauge' ? ',"type":' + json(m.type) : '') +
    '}';
  return { m, s, b: utf8Length(s) };
}

/** Size in bytes of the request body of `batch`: `{"metrics":[` + items joined by `,` + `]}`. */
export const bodySize = (batch: Entry[]): number => batch.reduce((n, e) => n + e.b + 1, 13);

/** The request body of `batch`. */
export const bodyText = (batch: Entry[]): string => '{"metrics":[' + batch.map((e) => e.s).join() + ']}';

/**
 * Takes the next batch off the front of `queue`: at most `maxCount` metrics and `maxBytes` of
 * body, but always at least one metric (a single larger metric goes alone).
 */
export function takeBatch(queue: Entry[], maxCount: number, maxBytes: number): Entry[] {
  let n = 0;
  let bytes = 13;
  while (n < queue.length && n < maxCount && (!n || bytes + queue[n].b + 1 <= maxBytes)) bytes += queue[n++].b + 1;
  return queue.splice(0, n);
}
