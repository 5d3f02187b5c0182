import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateJanusConfig, protectedFolders, signJanusToken } from '../../scripts/janus-config.cjs';

describe('signJanusToken', () => {
  it('produces expiry-seconds,janus,plugins:base64 signature', () => {
    const t = signJanusToken({ secret: 'janus', expiresAt: new Date('2030-01-01T00:00:00Z') });
    // Reference value computed with: printf '1893456000,janus,janus.plugin.videoroom' | openssl dgst -sha1 -hmac janus -binary | base64
    expect(t).toBe('1893456000,janus,janus.plugin.videoroom:x11sCneKH8AnVXBclo/DXTSVcHk=');
  });

  it('lists every plugin and refuses bad input', () => {
    expect(signJanusToken({ secret: 's', expiresAt: 5_000, plugins: ['a.b', 'c.d'] })).toMatch(
      /^5,janus,a\.b,c\.d:/,
    );
    expect(() => signJanusToken({ secret: '', expiresAt: 1 })).toThrow(TypeError);
    expect(() => signJanusToken({ secret: 's', expiresAt: Number.NaN })).toThrow(TypeError);
    expect(() => signJanusToken({ secret: 's', expiresAt: 1, plugins: ['x:y'] })).toThrow(TypeError);
  });
});

describe('generateJanusConfig', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'haven-jcfg-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const base = () => ({
    dir: join(dir, 'cfg'),
    wsPort: 8188,
    adminSecret: 'admin-secret-1',
    recordingsDir: join(dir, 'rec'),
  });

  it('writes only the videoroom and websockets configs by default, without STUN, token auth or event handlers', () => {
    generateJanusConfig(base());
    expect(readdirSync(join(dir, 'cfg')).sort()).toEqual([
      'janus.jcfg',
      'janus.plugin.videoroom.jcfg',
      'janus.transport.websockets.jcfg',
    ]);
    const core = readFileSync(join(dir, 'cfg', 'janus.jcfg'), 'utf8');
    expect(core).not.toMatch(/stun/);
    expect(core).toMatch(/token_auth = false/);
    expect(core).toMatch(/broadcast = false/);
    expect(core).toMatch(/disable = "[^"]*libjanus_http\.so/);
    expect(readFileSync(join(dir, 'cfg', 'janus.transport.websockets.jcfg'), 'utf8')).toMatch(
      /ws_ip = "127\.0\.0\.1"[\s\S]*admin_ws = false/,
    );
  });

  it('adds signed-token auth, admin ws, the event handler, HTTP and the ICE enforce list when asked', () => {
    const r = generateJanusConfig({
      ...base(),
      adminWsPort: 7188,
      adminHttpPort: 7088,
      tokenAuthSecret: 'token-secret-1',
      eventHandlerUrl: 'http://127.0.0.1:8090/janus-events',
      eventHandlerPassword: 'events-secret-1',
      iceEnforceList: 'v0',
      rtpPortRange: '20000-20100',
    });
    expect(r.files).toContain('janus.transport.http.jcfg');
    expect(r.adminWsUrl).toBe('ws://127.0.0.1:7188');
    const core = readFileSync(r.configFile, 'utf8');
    expect(core).toMatch(/token_auth = true\n\ttoken_auth_secret = "token-secret-1"/);
    expect(core).toMatch(/ice_enforce_list = "v0"/);
    expect(core).toMatch(/rtp_port_range = "20000-20100"/);
    expect(core).toMatch(/broadcast = true/);
    const evh = readFileSync(join(dir, 'cfg', 'janus.eventhandler.sampleevh.jcfg'), 'utf8');
    expect(evh).toMatch(/backend = "http:\/\/127\.0\.0\.1:8090\/janus-events"/);
    expect(evh).toMatch(/backend_user = "janus"\n\tbackend_pwd = "events-secret-1"/);
  });

  it('protects every folder but the recordings directory, and locks rtp_forward behind the admin key', () => {
    const r = generateJanusConfig({ ...base(), videoroomAdminKey: 'room-admin-key-1' });
    // Read the list Janus is given (other tests create and remove siblings in the temp folder meanwhile,
    // so a second protectedFolders() call may list different siblings).
    const core = readFileSync(r.configFile, 'utf8');
    const line = /protected_folders = \[(.*)\]/.exec(core);
    expect(line).not.toBeNull();
    const folders = JSON.parse(`[${line?.[1] ?? ''}]`) as string[];
    expect(folders).toEqual([...folders].sort());
    expect(protectedFolders(join(dir, 'rec'))).toEqual(
      expect.arrayContaining(['/etc/', `${join(dir, 'cfg')}/`]),
    );
    for (const f of [
      '/etc/',
      '/usr/',
      '/var/',
      '/root/',
      '/home/',
      '/proc/',
      '/run/',
      `${join(dir, 'cfg')}/`,
    ]) {
      expect(folders).toContain(f);
    }
    // Janus compares plain string prefixes: nothing listed may be a prefix of a path inside the recordings dir,
    // a recording's own folder (`<recordings dir>/<recording id>/`) included.
    const recording = `${join(dir, 'rec')}/visit-1-video-0.mjr`;
    const inFolder = `${join(dir, 'rec')}/5b0e7c1e-7a43-4f0e-9a51-1d0b1f3c2e9a/videoroom-1-user-2-video-0.mjr`;
    expect(folders.filter((f) => recording.startsWith(f) || inFolder.startsWith(f))).toEqual([]);
    // The raw recordings are plaintext media: only the Janus user may enter their folder.
    expect(statSync(join(dir, 'rec')).mode & 0o777).toBe(0o700);
    expect(folders.every((f) => f.endsWith('/'))).toBe(true);
    expect(readFileSync(join(dir, 'cfg', 'janus.plugin.videoroom.jcfg'), 'utf8')).toMatch(
      /admin_key = "room-admin-key-1"\n\tlock_rtp_forward = true/,
    );
  });

  it('refuses bad ports, weak or quoted secrets and both token modes at once', () => {
    expect(() => generateJanusConfig({ ...base(), wsPort: 70000 })).toThrow(TypeError);
    expect(() => generateJanusConfig({ ...base(), adminSecret: 'short' })).toThrow(TypeError);
    expect(() => generateJanusConfig({ ...base(), adminSecret: 'has"quote"inside' })).toThrow(TypeError);
    expect(() =>
      generateJanusConfig({ ...base(), tokenAuth: true, tokenAuthSecret: 'token-secret-1' }),
    ).toThrow(TypeError);
  });
});
