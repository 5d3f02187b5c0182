import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';
import type { HttpFieldViolation } from './http-errors';
import { COOKIES, idempotencyKey, parseCookieHeader, sameToken, upgradeCsrfRefusal } from './security';

const TOKEN = 'a'.repeat(43);

function upgrade(headers: Record<string, string>): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

function withHeader(value: string | undefined): Request {
  return { get: (name: string) => (name.toLowerCase() === 'idempotency-key' ? value : undefined) } as Request;
}

describe('sameToken', () => {
  it('is true only for the same text', () => {
    expect(sameToken(TOKEN, TOKEN)).toBe(true);
    expect(sameToken(TOKEN, `${'a'.repeat(42)}b`)).toBe(false);
    expect(sameToken(TOKEN, TOKEN.slice(1))).toBe(false);
    expect(sameToken('', '')).toBe(true);
  });
});

describe('parseCookieHeader', () => {
  it('reads name=value pairs, decodes values and skips malformed ones', () => {
    const jar = parseCookieHeader(`${COOKIES.csrf}=x%2By; bad=%E0%A4%A; ${COOKIES.access}=t; flag`);
    expect([...jar]).toEqual([
      [COOKIES.csrf, 'x+y'],
      [COOKIES.access, 't'],
    ]);
    expect(parseCookieHeader(undefined).size).toBe(0);
  });
});

describe('upgradeCsrfRefusal', () => {
  const url = (csrf?: string) => new URL(`http://h/api/ws${csrf === undefined ? '' : `?csrf=${csrf}`}`);
  const jar = new Map([[COOKIES.csrf, TOKEN]]);

  it('lets a same-origin upgrade that echoes the CSRF cookie through', () => {
    expect(upgradeCsrfRefusal(upgrade({ host: 'h', origin: 'https://h' }), url(TOKEN), jar)).toBeUndefined();
    const allowed = upgrade({ host: 'h', origin: 'https://app.example' });
    expect(upgradeCsrfRefusal(allowed, url(TOKEN), jar, ['https://app.example'])).toBeUndefined();
  });

  it('refuses a missing or foreign Origin before looking at the token', () => {
    for (const headers of [{ host: 'h' }, { host: 'h', origin: 'https://evil.example' }]) {
      expect(upgradeCsrfRefusal(upgrade(headers), url(TOKEN), jar)).toEqual({
        kind: 'csrf',
        code: 'ORIGIN_NOT_ALLOWED',
        reason: 'missing or foreign Origin',
      });
    }
  });

  it('refuses a missing cookie, a missing echo or a different token', () => {
    const req = upgrade({ host: 'h', origin: 'http://h' });
    for (const [u, cookies] of [
      [url(TOKEN), new Map<string, string>()],
      [url(), jar],
      [url('b'.repeat(43)), jar],
    ] as const) {
      expect(upgradeCsrfRefusal(req, u, cookies)?.code).toBe('CSRF');
    }
  });
});

describe('idempotencyKey', () => {
  it('is the UUID header, or empty when absent', () => {
    const violations: HttpFieldViolation[] = [];
    expect(idempotencyKey(withHeader('0b6e4d52-5f3a-4c8e-9a51-3f1c2d7e8a90'), violations)).toBe(
      '0b6e4d52-5f3a-4c8e-9a51-3f1c2d7e8a90',
    );
    expect(idempotencyKey(withHeader(undefined), violations)).toBe('');
    expect(violations).toEqual([]);
  });

  it('records a violation of idempotencyKey when the header is not a UUID', () => {
    const violations: HttpFieldViolation[] = [];
    expect(idempotencyKey(withHeader('not-a-uuid'), violations)).toBe('');
    expect(violations).toEqual([{ field: 'idempotencyKey', description: 'must be a UUID' }]);
  });
});
