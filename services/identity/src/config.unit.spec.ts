import { loadIdentityConfig } from './config';

describe('identity config', () => {
  it('defaults to the conventional ports and OWASP argon2 parameters', () => {
    const c = loadIdentityConfig({});
    expect(c).toMatchObject({
      HAVEN_GRPC_PORT: 20051,
      HAVEN_HTTP_PORT: 8081,
      HAVEN_ARGON2_MEMORY_KIB: 19456,
      HAVEN_ARGON2_TIME_COST: 2,
      HAVEN_ARGON2_PARALLELISM: 1,
      HAVEN_SESSION_IDLE_TIMEOUT_SEC: 900,
      HAVEN_SESSION_MAX_LIFETIME_SEC: 43200,
      HAVEN_REFRESH_REUSE_GRACE_SEC: 30,
      HAVEN_PASSWORD_MAX_AGE_DAYS: 90,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });
  it('names a bad or unknown variable', () => {
    expect(() => loadIdentityConfig({ HAVEN_HTTP_PORT: 'eighty' })).toThrow(/HAVEN_HTTP_PORT/);
    expect(() => loadIdentityConfig({ HAVEN_IDLE_TIMEOUT: '5' })).toThrow(
      /HAVEN_IDLE_TIMEOUT: unknown variable/,
    );
    expect(() => loadIdentityConfig({ HAVEN_ARGON2_MEMORY_KIB: '8' })).toThrow(/HAVEN_ARGON2_MEMORY_KIB/);
  });
  it('reads the refresh reuse grace: 0 turns it off, more than 5 minutes is refused', () => {
    expect(loadIdentityConfig({ HAVEN_REFRESH_REUSE_GRACE_SEC: '0' }).HAVEN_REFRESH_REUSE_GRACE_SEC).toBe(0);
    expect(() => loadIdentityConfig({ HAVEN_REFRESH_REUSE_GRACE_SEC: '301' })).toThrow(
      /HAVEN_REFRESH_REUSE_GRACE_SEC/,
    );
    expect(() => loadIdentityConfig({ HAVEN_REFRESH_REUSE_GRACE_SEC: '-1' })).toThrow(
      /HAVEN_REFRESH_REUSE_GRACE_SEC/,
    );
  });
  it('reads the login throttles and the forwarder secret (never printing a short one back)', () => {
    expect(loadIdentityConfig({})).toMatchObject({
      HAVEN_LOGIN_ADDRESS_FAILURES: 20,
      HAVEN_LOGIN_ACCOUNT_FAILURES: 10,
      HAVEN_LOGIN_BACKOFF_MAX_SEC: 900,
    });
    expect(loadIdentityConfig({}).HAVEN_FORWARDER_SECRET).toBeUndefined();
    expect(() => loadIdentityConfig({ HAVEN_FORWARDER_SECRET: 'too-short-value' })).toThrow(
      /HAVEN_FORWARDER_SECRET/,
    );
    expect(() => loadIdentityConfig({ HAVEN_FORWARDER_SECRET: 'too-short-value' })).not.toThrow(
      /too-short-value/,
    );
  });
  it('tolerates other services’ shared variables', () => {
    expect(() => loadIdentityConfig({ HAVEN_JANUS_WS_URLS: 'ws://x' })).not.toThrow();
  });
});
