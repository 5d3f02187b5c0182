import { ConfigError } from '@haven/service';
import { loadGatewayConfig } from './config';

/** What scripts/dev-stack.mjs gives the gateway. */
const DEV_STACK_ENV = {
  NATS_URL: 'nats://127.0.0.1:4222',
  HAVEN_EVENT_STORE: 'jetstream',
  HAVEN_JWKS_URL: 'http://127.0.0.1:8081/.well-known/jwks.json',
  HAVEN_KMS: 'local',
  HAVEN_KEYRING_FILE: '/tmp/keyring.json',
  HAVEN_JANUS_WS_URLS: 'ws://127.0.0.1:8188',
  HAVEN_JANUS_ADMIN_URLS: 'ws://127.0.0.1:7188',
  HAVEN_JANUS_ADMIN_SECRET: 'secret',
  HAVEN_JANUS_TOKEN_SECRET: 'secret',
  HAVEN_RECORDINGS_DIR: '/tmp/rec',
  LOG_LEVEL: 'info',
  HAVEN_IDENTITY_GRPC_ADDR: '127.0.0.1:20051',
  HAVEN_SCHEDULING_GRPC_ADDR: '127.0.0.1:20052',
  HAVEN_SESSION_GRPC_ADDR: '127.0.0.1:20053',
  HAVEN_RECORDING_GRPC_ADDR: '127.0.0.1:20054',
  HAVEN_AUDIT_GRPC_ADDR: '127.0.0.1:20055',
  HAVEN_DATA_DIR: '/tmp/data/gateway',
  HAVEN_HTTP_PORT: '8080',
  HAVEN_HOME: '/tmp/haven',
};

describe('gateway configuration', () => {
  it('accepts the dev stack environment', () => {
    const config = loadGatewayConfig(DEV_STACK_ENV);
    expect(config).toMatchObject({
      HAVEN_HTTP_PORT: 8080,
      HAVEN_IDENTITY_GRPC_ADDR: '127.0.0.1:20051',
      HAVEN_SCHEDULING_GRPC_ADDR: '127.0.0.1:20052',
      HAVEN_JWKS_URL: 'http://127.0.0.1:8081/.well-known/jwks.json',
      HAVEN_COOKIE_SECURE: true,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads the trusted proxies and refuses bad entries or both proxy settings at once', () => {
    expect(
      loadGatewayConfig({ ...DEV_STACK_ENV, HAVEN_TRUSTED_PROXIES: 'loopback, 10.0.0.0/8,2001:db8::1' })
        .HAVEN_TRUSTED_PROXIES,
    ).toEqual(['loopback', '10.0.0.0/8', '2001:db8::1']);
    expect(loadGatewayConfig(DEV_STACK_ENV).HAVEN_TRUSTED_PROXIES).toEqual([]);
    for (const bad of ['ingress', '10.0.0.0/33', '10.0.0.1/8/1', '*']) {
      expect(() => loadGatewayConfig({ ...DEV_STACK_ENV, HAVEN_TRUSTED_PROXIES: bad })).toThrow(ConfigError);
    }
    expect(() =>
      loadGatewayConfig({ ...DEV_STACK_ENV, HAVEN_TRUSTED_PROXIES: 'loopback', HAVEN_TRUST_PROXY_HOPS: '1' }),
    ).toThrow(/not both/);
    expect(() => loadGatewayConfig({ ...DEV_STACK_ENV, HAVEN_FORWARDER_SECRET: 'short' })).toThrow(
      ConfigError,
    );
  });

  it('marks cookies Secure by default and can turn it off explicitly', () => {
    expect(loadGatewayConfig({}).HAVEN_COOKIE_SECURE).toBe(true);
    expect(loadGatewayConfig({ HAVEN_COOKIE_SECURE: 'false' }).HAVEN_COOKIE_SECURE).toBe(false);
  });

  it('stops on a typo or a malformed address, naming the variable', () => {
    expect(() => loadGatewayConfig({ HAVEN_COOKIE_SECUR: 'false' })).toThrow(
      /HAVEN_COOKIE_SECUR.*HAVEN_COOKIE_SECURE/,
    );
    expect(() => loadGatewayConfig({ HAVEN_COOKIE_SECURE: 'nope' })).toThrow(ConfigError);
    expect(() => loadGatewayConfig({ HAVEN_IDENTITY_GRPC_ADDR: 'http://identity' })).toThrow(
      /HAVEN_IDENTITY_GRPC_ADDR/,
    );
  });

  it('reads the session address, NATS, the idle timeout and the media proxy', () => {
    const config = loadGatewayConfig({ ...DEV_STACK_ENV, HAVEN_PATIENT_JWKS_URL: 'http://127.0.0.1:8083/x' });
    expect(config).toMatchObject({
      HAVEN_SESSION_GRPC_ADDR: '127.0.0.1:20053',
      NATS_URL: 'nats://127.0.0.1:4222',
      HAVEN_IDLE_TIMEOUT_SEC: 900,
    });
    expect(loadGatewayConfig({ HAVEN_IDLE_TIMEOUT_SEC: '60' }).HAVEN_IDLE_TIMEOUT_SEC).toBe(60);
    expect(config.HAVEN_SESSION_MEDIA_URL).toBe('ws://127.0.0.1:8090/media');
    expect(
      loadGatewayConfig({ HAVEN_SESSION_MEDIA_URL: 'ws://session:8082/media' }).HAVEN_SESSION_MEDIA_URL,
    ).toBe('ws://session:8082/media');
    expect(() => loadGatewayConfig({ HAVEN_SESSION_MEDIA_URL: 'http://session:8082/media' })).toThrow(
      /HAVEN_SESSION_MEDIA_URL/,
    );
    // Browsers no longer reach Janus: its public URL is nobody's business here.
    expect(() => loadGatewayConfig({ HAVEN_JANUS_PUBLIC_WS_URLS: 'wss://media.example/janus' })).toThrow(
      /HAVEN_JANUS_PUBLIC_WS_URLS/,
    );
  });

  it('takes the SSO providers file only with the public URL the redirect URI derives from', () => {
    expect(() => loadGatewayConfig({ HAVEN_SSO_CONFIG_FILE: '/etc/haven/sso.json' })).toThrow(
      /HAVEN_PUBLIC_URL/,
    );
    expect(
      loadGatewayConfig({
        HAVEN_SSO_CONFIG_FILE: '/etc/haven/sso.json',
        HAVEN_PUBLIC_URL: 'https://haven.clinic.example',
      }).HAVEN_PUBLIC_URL,
    ).toBe('https://haven.clinic.example');
    expect(() => loadGatewayConfig({ HAVEN_PUBLIC_URL: 'ftp://haven.clinic.example' })).toThrow(
      /HAVEN_PUBLIC_URL/,
    );
  });
});

describe('HAVEN_DEV_MAIL_URL', () => {
  it('takes a mail catcher on the loopback interface only', () => {
    expect(
      loadGatewayConfig({ ...DEV_STACK_ENV, HAVEN_DEV_MAIL_URL: 'http://127.0.0.1:8025/' })
        .HAVEN_DEV_MAIL_URL,
    ).toBe('http://127.0.0.1:8025/');
    expect(() =>
      loadGatewayConfig({ ...DEV_STACK_ENV, HAVEN_DEV_MAIL_URL: 'http://mail.clinic.example:8025/' }),
    ).toThrow(/HAVEN_DEV_MAIL_URL/);
  });
});
