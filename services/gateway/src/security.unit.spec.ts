import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import type { Request } from 'express';
import type { HttpFieldViolation } from './http-errors';
import {
  COOKIES,
  checkUpgrade,
  idempotencyKey,
  parseCookieHeader,
  refuseUpgrade,
  sameToken,
  upgradeCsrfRefusal,
} from './security';

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

describe('checkUpgrade', () => {
  const url = new URL(`http://h/api/media?csrf=${TOKEN}`);
  const claims = Buffer.from(JSON.stringify({ sub: 'u-1', role: 'clinician', exp: Date.now() / 1000 + 60 }));
  const jwt = `e30.${claims.toString('base64url')}.sig`;
  const tokenOf = (jar: ReadonlyMap<string, string>) => jar.get(COOKIES.access);
  const req = (cookie: string) => upgrade({ host: 'h', origin: 'http://h', cookie });

  it('answers 403 for CSRF before looking for a token', async () => {
    const decision = await checkUpgrade(upgrade({ host: 'h', origin: 'http://h' }), url, { tokenOf });
    expect(decision).toMatchObject({ ok: false, status: 403, refusal: { code: 'CSRF' } });
  });

  it('answers 401 without a token, and 401 for a token that does not decode', async () => {
    expect(await checkUpgrade(req(`${COOKIES.csrf}=${TOKEN}`), url, { tokenOf })).toMatchObject({
      ok: false,
      status: 401,
      refusal: { reason: 'no session cookie' },
    });
    expect(
      await checkUpgrade(req(`${COOKIES.csrf}=${TOKEN}; ${COOKIES.access}=nonsense`), url, { tokenOf }),
    ).toMatchObject({ ok: false, status: 401, refusal: { reason: 'session cookie not valid' } });
  });

  it('lets the caller through with the token it presented', async () => {
    const decision = await checkUpgrade(req(`${COOKIES.csrf}=${TOKEN}; ${COOKIES.access}=${jwt}`), url, {
      tokenOf,
    });
    expect(decision).toMatchObject({ ok: true, token: jwt, principal: { id: 'u-1', kind: 'user' } });
  });
});

describe('refuseUpgrade', () => {
  it('answers a bare HTTP status line and ends the socket', async () => {
    const socket = new PassThrough();
    refuseUpgrade(socket, 403);
    const chunks: Buffer[] = [];
    for await (const chunk of socket) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe(
      'HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
    );
  });
});
