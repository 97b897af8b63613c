import type { ValidationLimits } from './options.js';
import type { Metric } from './wire.js';

/** The server's default limits (see the contract's `MAX_*` settings). */
export const DEFAULT_LIMITS: ValidationLimits = {
  maxNameBytes: 200,
  maxTags: 32,
  maxTagKeyBytes: 100,
  maxTagValueBytes: 1024,
  maxProfileIdBytes: 256,
  maxFutureSkewSeconds: 3600,
};

const encoder = /* @__PURE__ */ new TextEncoder();

/** Length of `s` in UTF-8 bytes, as the server measures it. */
export const utf8Length = (s: string): number => encoder.encode(s).length;

// A lone surrogate cannot be encoded as UTF-8; the server would refuse the whole body as
// invalid_json, so such a metric is refused here on its own.
// A UTF-8 encoding is never shorter than the UTF-16 length, so an overlong text is refused before
// any pass over it: the work per call stays bounded by the limits, whatever the input's size.
const isText = (v: unknown, min: number, max: number): boolean => {
  if (typeof v != 'string' || v.length > max || /\p{Cs}/u.test(v)) return false;
  const n = utf8Length(v);
  return n >= min && n <= max;
};

/**
 * Checks a metric against the same rules and limits as the server.
 * @returns `undefined` when valid, else `"<field>: <why>"`.
 */
export function validateMetric(m: Metric, l: ValidationLimits, now: number): string | undefined {
  if (!isText(m.name, 1, l.maxNameBytes)) return 'name: must be text of 1..' + l.maxNameBytes + ' bytes';
  const type = m.type;
  // Compared strictly: an object whose toString() says "counter" is not a type.
  if (type != null && !['gauge', 'counter', 'histogram'].includes(type))
    return 'type: must be gauge, counter or histogram';
  if (typeof m.value != 'number' || !isFinite(m.value)) return 'value: must be a finite number';
  if (type == 'counter' && m.value < 0) return 'value: a counter increment must not be negative';
  const t = m.timestamp;
  if (t != null && !(Number.isInteger(t) && t >= 0 && t <= now + l.maxFutureSkewSeconds * 1e3))
    return 'timestamp: must be integer ms, >= 0, not in the future';
  if (!isText(m.profileId, 1, l.maxProfileIdBytes))
    return 'profileId: must be text of 1..' + l.maxProfileIdBytes + ' bytes';
  const tags = m.tags;
  if (tags != null) {
    if (typeof tags != 'object' || Array.isArray(tags)) return 'tags: must be an object';
    const keys = Object.keys(tags);
    if (keys.length > l.maxTags) return 'tags: at most ' + l.maxTags;
    for (const k of keys) {
      if (!isText(k, 1, l.maxTagKeyBytes)) return 'tags: key must be text of 1..' + l.maxTagKeyBytes + ' bytes';
      if (!isText(tags[k], 0, l.maxTagValueBytes))
        return 'tags.' + k + ': must be text of 0..' + l.maxTagValueBytes + ' bytes';
    }
  }
  return undefined;
}
