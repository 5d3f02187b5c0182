import { request } from 'node:http';
import { JWKS_PATH, startJwksServer, type JwksServer } from './jwks-server';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function call(port: number, method: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('startJwksServer', () => {
  let server: JwksServer;
  let keys = { keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'first', kid: 'k1' }] };

  beforeAll(async () => {
    server = await startJwksServer({ port: 0, host: '127.0.0.1', jwks: () => keys });
  });
  afterAll(() => server.close());

  it('serves the current key set with its media type, caching, length and nosniff', async () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}${JWKS_PATH}`);
    const first = await call(server.port, 'GET', `${JWKS_PATH}?x=1`);
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toEqual(keys);
    expect(first.headers['content-type']).toBe('application/jwk-set+json');
    expect(first.headers['cache-control']).toBe('public, max-age=300');
    expect(first.headers['x-content-type-options']).toBe('nosniff');
    expect(Number(first.headers['content-length'])).toBe(Buffer.byteLength(first.body));
    keys = { keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'rotated', kid: 'k2' }] };
    expect(JSON.parse((await call(server.port, 'GET', JWKS_PATH)).body)).toEqual(keys);
  });

  it('answers HEAD without a body, a probe at /healthz, 404 elsewhere and 405 to other methods', async () => {
    const head = await call(server.port, 'HEAD', JWKS_PATH);
    expect([head.status, head.body]).toEqual([200, '']);
    expect(await call(server.port, 'GET', '/healthz')).toMatchObject({ status: 200, body: 'ok' });
    expect((await call(server.port, 'GET', '/keys')).status).toBe(404);
    const post = await call(server.port, 'POST', JWKS_PATH);
    expect([post.status, post.headers['allow']]).toEqual([405, 'GET, HEAD']);
  });

  it('serves extra routes by exact path, but never in place of the key set or the probe', async () => {
    const extra = await startJwksServer({
      port: 0,
      host: '127.0.0.1',
      jwks: keys,
      routes: new Map([
        ['/hook', (req, res) => void res.writeHead(201).end(`hook ${req.method}`)],
        [JWKS_PATH, (_req, res) => void res.writeHead(500).end('hijacked')],
      ]),
    });
    try {
      expect(await call(extra.port, 'POST', '/hook?a=1')).toMatchObject({ status: 201, body: 'hook POST' });
      expect((await call(extra.port, 'GET', JWKS_PATH)).status).toBe(200);
      expect((await call(extra.port, 'POST', '/hook/more')).status).toBe(405);
    } finally {
      await extra.close();
    }
  });

  it('refuses to start on a port already bound', async () => {
    await expect(startJwksServer({ port: server.port, host: '127.0.0.1', jwks: keys })).rejects.toThrow(
      /EADDRINUSE/,
    );
  });
});
