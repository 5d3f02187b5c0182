/**
 * RFC 8785 canonical JSON (JCS) of an audit record or an event envelope, through `canonicalize`.
 *
 * canonicalize refuses a string with a lone UTF-16 surrogate (RFC 8785 requires I-JSON, RFC 7493). Event data
 * can hold one (a client's JSON `"\ud800"` parses to it), and the audit log records every event, so each lone
 * surrogate, in a value or a key, becomes U+FFFD first (`toWellFormed`): the character UTF-8 encodes it as anyway.
 * Well-formed input is serialised exactly as before.
 */
import canonicalize from 'canonicalize';

/** The canonical JSON of `value`; undefined for a value JSON leaves out (undefined, a function). */
export function canonicalJson(value: unknown): string | undefined {
  return canonicalize(wellFormed(value));
}

function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return value.isWellFormed() ? value : value.toWellFormed();
  if (value === null || typeof value !== 'object') return value;
  const json = (value as { toJSON?: unknown }).toJSON;
  if (typeof json === 'function') return wellFormed((json as () => unknown).call(value));
  if (Array.isArray(value)) return value.map(wellFormed);
  // No prototype: a "__proto__" key stays an ordinary key, as JSON.parse made it.
  const out = Object.create(null) as Record<string, unknown>;
  for (const [key, item] of Object.entries(value)) out[key.toWellFormed()] = wellFormed(item);
  return out;
}
