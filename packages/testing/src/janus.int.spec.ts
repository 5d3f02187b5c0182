import { existsSync, readFileSync, statSync } from 'node:fs';
import {
  attachVideoRoom,
  connectJanusWs,
  serveHttpStandIn,
  signJanusToken,
  startJanus,
  type HttpStandIn,
  type JanusHandle,
} from '@haven/testing';

const TOKEN_SECRET = 'test-token-secret-0123456789';

describe('startJanus with signed-token auth', () => {
  let janus: JanusHandle;
  let events: server;
  type server = { server: HttpStandIn; received: unknown[]; url: string };

  beforeAll(async () => {
    const received: unknown[] = [];
    const srv = await serveHttpStandIn((_req, data, res) => {
      const body = data.toString();
      try {
        received.push(JSON.parse(body));
      } catch {
        received.push(body);
      }
      res.end();
    });
    events = { server: srv, received, url: `${srv.origin}/janus-events` };
    janus = await startJanus({ tokenAuthSecret: TOKEN_SECRET, eventHandlerUrl: events.url });
  }, 30_000);

  afterAll(async () => {
    await janus?.stop();
    await events?.server.close();
  });

  it('answers info and writes only the expected config files (0600)', async () => {
    const c = await connectJanusWs(janus.wsUrl);
    const info = await c.request({ janus: 'info' });
    c.close();
    expect(info['janus']).toBe('server_info');
    expect(info['version_string']).toBe('1.1.2');
    expect(Object.keys(info['plugins'] as object)).toEqual(['janus.plugin.videoroom']);
    expect(Object.keys(info['transports'] as object)).toEqual(['janus.transport.websockets']);
    expect(info['auth_token']).toBe(true);
    expect(statSync(`${janus.configDir}/janus.jcfg`).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${janus.configDir}/janus.jcfg`, 'utf8')).not.toMatch(/stun_server/);
  });

  it('accepts a signed token for the videoroom and creates a session and a handle', async () => {
    const token = signJanusToken({ secret: TOKEN_SECRET, expiresAt: Date.now() + 60_000 });
    const c = await connectJanusWs(janus.wsUrl);
    try {
      // attachVideoRoom throws when Janus answers either request with an error.
      const { sessionId, handleId } = await attachVideoRoom(c, token);
      expect([typeof sessionId, typeof handleId]).toEqual(['number', 'number']);
    } finally {
      c.close();
    }
  });

  it.each([
    ['no token', undefined],
    [
      'a token signed with another secret',
      signJanusToken({ secret: 'wrong-secret-123456', expiresAt: Date.now() + 60_000 }),
    ],
    ['an expired token', signJanusToken({ secret: TOKEN_SECRET, expiresAt: Date.now() - 1_000 })],
    [
      'a tampered token',
      signJanusToken({ secret: TOKEN_SECRET, expiresAt: Date.now() + 60_000 }).replace(/^\d+/, '9999999999'),
    ],
  ])('refuses a session with %s (403)', async (_label, token) => {
    const c = await connectJanusWs(janus.wsUrl);
    try {
      const r = await c.request(token === undefined ? { janus: 'create' } : { janus: 'create', token });
      expect(r['janus']).toBe('error');
      expect((r['error'] as { code: number }).code).toBe(403);
    } finally {
      c.close();
    }
  });

  it('refuses to attach to the videoroom with a token that does not grant it', async () => {
    const good = signJanusToken({ secret: TOKEN_SECRET, expiresAt: Date.now() + 60_000 });
    const other = signJanusToken({
      secret: TOKEN_SECRET,
      expiresAt: Date.now() + 60_000,
      plugins: ['janus.plugin.echotest'],
    });
    const c = await connectJanusWs(janus.wsUrl);
    try {
      const session = await c.request({ janus: 'create', token: good });
      const sessionId = (session['data'] as { id: number }).id;
      const r = await c.request({
        janus: 'attach',
        session_id: sessionId,
        plugin: 'janus.plugin.videoroom',
        token: other,
      });
      expect(r['janus']).toBe('error');
    } finally {
      c.close();
    }
  });

  it('serves the admin API only with the admin secret', async () => {
    const c = await connectJanusWs(janus.adminWsUrl, { admin: true });
    try {
      const ok = await c.request({ janus: 'list_sessions', admin_secret: janus.adminSecret });
      expect(ok['janus']).toBe('success');
      const bad = await c.request({ janus: 'list_sessions', admin_secret: 'nope' });
      expect(bad['janus']).toBe('error');
    } finally {
      c.close();
    }
  });

  it('posts events to the event handler URL', async () => {
    const deadline = Date.now() + 10_000;
    while (events.received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(events.received.length).toBeGreaterThan(0);
  });

  it('stop() ends the process and removes its temp dir', async () => {
    const { pid, configDir } = janus;
    await janus.stop();
    expect(() => process.kill(pid, 0)).toThrow();
    expect(existsSync(configDir)).toBe(false);
  });
});

describe('startJanus with stored-token auth (admin add_token)', () => {
  let janus: JanusHandle;
  beforeAll(async () => {
    janus = await startJanus({ tokenAuth: true });
  }, 30_000);
  afterAll(async () => {
    await janus?.stop();
  });

  it('accepts a token only after the admin API added it', async () => {
    const token = `stored-${Date.now()}`;
    const c = await connectJanusWs(janus.wsUrl);
    const admin = await connectJanusWs(janus.adminWsUrl, { admin: true });
    try {
      expect((await c.request({ janus: 'create', token }))['janus']).toBe('error');
      const added = await admin.request({
        janus: 'add_token',
        token,
        plugins: ['janus.plugin.videoroom'],
        admin_secret: janus.adminSecret,
      });
      expect(added['janus']).toBe('success');
      expect((await c.request({ janus: 'create', token }))['janus']).toBe('success');
    } finally {
      c.close();
      admin.close();
    }
  });
});
