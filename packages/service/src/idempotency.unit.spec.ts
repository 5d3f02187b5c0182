import { createSecretKey, randomBytes } from 'node:crypto';
import { ValidationError } from '@haven/errors';
import { canonicalJson, idempotencyKey, idempotentResourceId, requestRecord } from './idempotency';
import type { Principal } from './principal';

const frontDesk: Principal = { kind: 'user', id: 'u-1', role: 'front_desk', scopes: [] };
const other: Principal = { kind: 'user', id: 'u-2', role: 'front_desk', scopes: [] };
const METHOD = '/haven.scheduling.v1.SchedulingService/CreatePatient';
const KEY = '0b6c3a5e-8f1d-4c2a-9e7b-1a2b3c4d5e6f';

describe('idempotencyKey', () => {
  it('is undefined without a request_id and refuses one that is not a UUID', () => {
    expect(idempotencyKey({ method: METHOD, principal: frontDesk }, '')).toBeUndefined();
    const error = (() => {
      try {
        idempotencyKey({ method: METHOD, principal: frontDesk }, 'retry-1');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).violations).toEqual([
      { field: 'request_id', description: 'must be a UUID' },
    ]);
  });

  it('is scoped to the method and the caller', () => {
    const a = idempotencyKey({ method: METHOD, principal: frontDesk }, KEY)!;
    expect(idempotencyKey({ method: METHOD, principal: frontDesk }, KEY.toUpperCase())).toEqual(a);
    expect(idempotencyKey({ method: METHOD, principal: other }, KEY)!.scope).not.toBe(a.scope);
    expect(idempotencyKey({ method: `${METHOD}x`, principal: frontDesk }, KEY)!.scope).not.toBe(a.scope);
  });
});

describe('requestRecord', () => {
  const key = idempotencyKey({ method: METHOD, principal: frontDesk }, KEY)!;

  it('fingerprints the request, whatever the order of its fields', () => {
    const a = requestRecord(key, { b: 1, a: { y: [1, 2], x: new Date(0) } });
    const b = requestRecord(key, { a: { x: new Date(0), y: [1, 2] }, b: 1 });
    expect(a).toEqual(b);
    expect(a.id).toBe(KEY);
    expect(a.fingerprint).toMatch(/^sha256:/);
    expect(requestRecord(key, { b: 2, a: { y: [1, 2], x: new Date(0) } }).fingerprint).not.toBe(
      a.fingerprint,
    );
  });

  it('keys the fingerprint of a request with PHI, so the PHI cannot be guessed from it', () => {
    const secret = createSecretKey(randomBytes(32));
    const phi = { givenName: 'Ada', dateOfBirth: '1990-12-10' };
    const keyed = requestRecord(key, phi, secret);
    expect(keyed.fingerprint).toMatch(/^hmac:/);
    expect(keyed.fingerprint).not.toBe(requestRecord(key, phi).fingerprint.replace('sha256:', 'hmac:'));
    expect(requestRecord(key, phi, createSecretKey(randomBytes(32))).fingerprint).not.toBe(keyed.fingerprint);
    expect(requestRecord(key, phi, secret)).toEqual(keyed);
  });
});

describe('idempotentResourceId', () => {
  it('names the same resource for every retry, another for another key or kind, in UUID form', () => {
    const key = idempotencyKey({ method: METHOD, principal: frontDesk }, KEY)!;
    const id = idempotentResourceId(key, 'patient');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(idempotentResourceId(key, 'patient')).toBe(id);
    expect(idempotentResourceId(key, 'appointment')).not.toBe(id);
    const otherKey = idempotencyKey({ method: METHOD, principal: other }, KEY)!;
    expect(idempotentResourceId(otherKey, 'patient')).not.toBe(id);
  });
});

describe('canonicalJson', () => {
  it('sorts keys, drops undefined, writes dates, bigints and bytes as strings', () => {
    expect(canonicalJson({ z: undefined, b: 2n, a: new Date(0), c: new Uint8Array([1, 2]) })).toBe(
      '{"a":"1970-01-01T00:00:00.000Z","b":"2","c":"AQI="}',
    );
  });
});
