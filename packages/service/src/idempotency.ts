/**
 * Idempotent requests (Google AIP-155): a client sends a `request_id` (a UUID) with a mutating call and sends
 * the same one when it retries; the server answers the retry with the first result and changes nothing more.
 *
 * How Haven keeps the promise (one mechanism, in the decider handler): the events a command appends carry a
 * {@link RequestRecord} — the key and a fingerprint of the request — in the same append as the result, so the
 * key is stored exactly when the outcome is. A retry loads the aggregate, finds the key and answers from the
 * events already stored; the same key with a different request is refused (INVALID_ARGUMENT on `request_id`,
 * reason `REQUEST_ID_REUSED`). A command that creates a resource without a client-chosen id derives the id from
 * the key ({@link idempotentResourceId}), so the retry lands on the same stream.
 *
 * Window: the key lives in the aggregate's own events, which are never deleted: for as long as the resource
 * exists. Streams that are read from snapshots keep the keys of at least the last {@link IDEMPOTENCY_WINDOW_MS}
 * in the snapshot. Both are far longer than JetStream's own duplicate window (2 minutes), which Haven does not
 * rely on for this.
 */
import { createHash, createHmac, type KeyObject } from 'node:crypto';
import { ValidationError } from '@haven/errors';
import type { RequestRecord } from '@haven/eventstore';
import type { Principal } from './principal';

/** How long, at least, a retry with the same request_id is recognised (7 days). */
export const IDEMPOTENCY_WINDOW_MS = 7 * 24 * 3600_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The same request_id was sent with a different request (another method, caller or content): INVALID_ARGUMENT
 * with a field violation on `request_id` and ErrorInfo reason `REQUEST_ID_REUSED`.
 */
export class RequestIdReusedError extends ValidationError {
  readonly reason = 'REQUEST_ID_REUSED';
  constructor(field = 'request_id') {
    super([
      {
        field,
        description: 'was already used for a different request; use a new request_id for a new request',
      },
    ]);
  }
}

/** A validated idempotency key, scoped to the method and the caller that sent it. */
export interface IdempotencyKey {
  /** The client's request_id, lower-cased. */
  readonly id: string;
  /** SHA-256 (hex) of method, caller and key: the same for every retry of the request, only for it. */
  readonly scope: string;
}

/**
 * The idempotency key of a call: undefined when `requestId` is empty (no idempotency asked for).
 * Throws ValidationError on `field` when it is not a UUID.
 */
export function idempotencyKey(
  call: { readonly method: string; readonly principal: Principal | undefined },
  requestId: string,
  field = 'request_id',
): IdempotencyKey | undefined {
  if (requestId === '') return undefined;
  if (!UUID.test(requestId)) throw new ValidationError([{ field, description: 'must be a UUID' }]);
  const id = requestId.toLowerCase();
  const caller = call.principal ? `${call.principal.kind}:${call.principal.id}` : 'anonymous';
  const scope = createHash('sha256')
    .update(`haven.request.v1\0${call.method}\0${caller}\0${id}`)
    .digest('hex');
  return { id, scope };
}

/** JSON with object keys sorted at every level, Dates as ISO strings, bigints as strings, undefined dropped. */
export function canonicalJson(value: unknown): string {
  const normal = (v: unknown): unknown => {
    if (v instanceof Date) return v.toISOString();
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
    if (Array.isArray(v)) return v.map(normal);
    if (typeof v === 'object' && v !== null) {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
          .map((k) => [k, normal((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(normal(value)) ?? 'null';
}

/**
 * The record stored with the events of an idempotent command: the key and a fingerprint of `request` (what
 * makes two requests "the same": pass the request fields that matter, never a token). When the request holds
 * PHI, pass the patient's data key as `secret`: the fingerprint is then an HMAC that nobody can test guesses
 * against, and it dies with the key (crypto-shredding). Throws nothing.
 */
export function requestRecord(key: IdempotencyKey, request: unknown, secret?: KeyObject): RequestRecord {
  const input = `${key.scope}\0${canonicalJson(request)}`;
  const fingerprint = secret
    ? `hmac:${createHmac('sha256', secret).update(input).digest('base64url')}`
    : `sha256:${createHash('sha256').update(input).digest('base64url')}`;
  return { id: key.id, fingerprint };
}

/**
 * A resource id derived from an idempotency key (a UUID in form, version 8): every retry of the request names
 * the same resource, no other request does. `kind` separates several resources one request creates. Throws nothing.
 */
export function idempotentResourceId(key: IdempotencyKey, kind: string): string {
  const h = createHash('sha256').update(`${key.scope}\0${kind}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80; // version 8
  h[8] = (h[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
