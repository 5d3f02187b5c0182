import { z } from 'zod';
import { KMS_ADAPTERS, KMS_VARIABLES } from '@haven/crypto';
import {
  baseConfigSchema,
  ConfigError,
  createBaseConfigSchema,
  KMS_PROVIDERS,
  KMS_REQUIRED_VARIABLES,
  kmsConfigShape,
  kmsConfigShapeRequiringKeyring,
  kmsEnvOf,
  loadConfig,
  natsCredentialsOf,
  portSchema,
} from './config';

const schema = createBaseConfigSchema({ grpcPort: 20052 });

describe('loadConfig', () => {
  it('applies the defaults and the service port', () => {
    const config = loadConfig(schema, { PATH: '/usr/bin' });
    expect(config.HAVEN_GRPC_PORT).toBe(20052);
    expect(config.NATS_URL).toBe('nats://127.0.0.1:4222');
    expect(config.HAVEN_EVENT_STORE).toBe('jetstream');
    expect(config.HAVEN_JWT_ISSUER).toBe('haven-identity');
    expect(config.HAVEN_JWT_AUDIENCE).toBe('haven');
    expect(config.LOG_LEVEL).toBe('info');
    expect(config.HAVEN_SHUTDOWN_GRACE_MS).toBe(10000);
  });

  it('coerces numbers and returns a deep-frozen object', () => {
    const nested = schema.extend({
      HAVEN_JANUS_WS_URLS: z.string().transform((s) => ({ urls: s.split(',') })),
    });
    const config = loadConfig(nested, { HAVEN_GRPC_PORT: '6000', HAVEN_JANUS_WS_URLS: 'ws://a,ws://b' });
    expect(config.HAVEN_GRPC_PORT).toBe(6000);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.HAVEN_JANUS_WS_URLS)).toBe(true);
    expect(Object.isFrozen(config.HAVEN_JANUS_WS_URLS.urls)).toBe(true);
    expect(() => {
      (config as { HAVEN_GRPC_PORT: number }).HAVEN_GRPC_PORT = 1;
    }).toThrow(TypeError);
  });

  it('refuses an unknown HAVEN_ variable and suggests the likely one', () => {
    expect(() => loadConfig(schema, { HAVEN_GRPC_PROT: '1' })).toThrow(ConfigError);
    expect(() => loadConfig(schema, { HAVEN_GRPC_PROT: '1' })).toThrow(
      /HAVEN_GRPC_PROT: unknown variable \(did you mean HAVEN_GRPC_PORT\?\)/,
    );
  });

  it('tolerates variables it is told to ignore, and non-HAVEN variables', () => {
    expect(
      loadConfig(schema, { HAVEN_HTTP_PORT: '8080', HOME: '/root' }, { ignoreVariables: ['HAVEN_HTTP_PORT'] })
        .HAVEN_GRPC_PORT,
    ).toBe(20052);
  });

  it('names every bad variable and why', () => {
    let error: unknown;
    try {
      loadConfig(schema, { HAVEN_GRPC_PORT: 'abc', LOG_LEVEL: 'loud', HAVEN_JWKS_URL: 'not a url' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.map((p) => p.variable).sort();
    expect(problems).toEqual(['HAVEN_GRPC_PORT', 'HAVEN_JWKS_URL', 'LOG_LEVEL']);
    expect((error as Error).message).toMatch(/HAVEN_GRPC_PORT: .*"abc"/);
    expect((error as Error).message).toMatch(/LOG_LEVEL: Invalid option/);
  });

  it('never prints the value of a secret variable', () => {
    const withSecret = schema.extend({ HAVEN_JANUS_ADMIN_SECRET: z.string().min(32) });
    expect(() => loadConfig(withSecret, { HAVEN_JANUS_ADMIN_SECRET: 'hunter2-short' })).toThrow(
      /HAVEN_JANUS_ADMIN_SECRET/,
    );
    expect(() => loadConfig(withSecret, { HAVEN_JANUS_ADMIN_SECRET: 'hunter2-short' })).not.toThrow(
      /hunter2/,
    );
  });

  it('requires KURRENTDB_URL when the event store is kurrentdb, also after extend', () => {
    expect(() => loadConfig(schema, { HAVEN_EVENT_STORE: 'kurrentdb' })).toThrow(
      /KURRENTDB_URL: required when HAVEN_EVENT_STORE=kurrentdb/,
    );
    const extended = schema.extend({ HAVEN_HTTP_PORT: portSchema(8080) });
    expect(() => loadConfig(extended, { HAVEN_EVENT_STORE: 'kurrentdb' })).toThrow(/KURRENTDB_URL/);
    expect(
      loadConfig(extended, { HAVEN_EVENT_STORE: 'kurrentdb', KURRENTDB_URL: 'kurrentdb://127.0.0.1:2113' })
        .KURRENTDB_URL,
    ).toBe('kurrentdb://127.0.0.1:2113');
  });

  it('requires HAVEN_GRPC_PORT with the bare base schema', () => {
    expect(() => loadConfig(baseConfigSchema, {})).toThrow(/HAVEN_GRPC_PORT: required/);
    expect(loadConfig(baseConfigSchema, { HAVEN_GRPC_PORT: '20055' }).HAVEN_GRPC_PORT).toBe(20055);
  });

  it('treats empty values as unset', () => {
    expect(loadConfig(schema, { NATS_CREDS_FILE: '', HAVEN_GRPC_PORT: '' }).NATS_CREDS_FILE).toBeUndefined();
  });

  it('maps every NATS credential variable to its connect option, leaving unset ones out', () => {
    const credentials = natsCredentialsOf(
      loadConfig(schema, {
        NATS_URL: 'nats://nats:4222',
        NATS_CREDS_FILE: '/etc/nats/audit.creds',
        NATS_TLS_CERT_FILE: '/etc/nats/audit.crt',
        NATS_TLS_KEY_FILE: '/etc/nats/audit.key',
      }),
    );
    expect(credentials).toStrictEqual({
      servers: 'nats://nats:4222',
      credsFile: '/etc/nats/audit.creds',
      tlsCertFile: '/etc/nats/audit.crt',
      tlsKeyFile: '/etc/nats/audit.key',
    });
  });

  it('reads the service’s NATS credentials, never printing the password', () => {
    const config = loadConfig(schema, {
      NATS_URL: 'tls://nats:4222',
      NATS_USER: 'audit',
      NATS_PASSWORD: 'pw-1',
      NATS_TLS_CA_FILE: '/etc/ca.crt',
    });
    expect(natsCredentialsOf(config)).toEqual({
      servers: 'tls://nats:4222',
      user: 'audit',
      pass: 'pw-1',
      tlsCaFile: '/etc/ca.crt',
    });
    expect(natsCredentialsOf(loadConfig(schema, { NATS_INBOX_PREFIX: '_INBOX_audit' })).inboxPrefix).toBe(
      '_INBOX_audit',
    );
    const bad = (() => {
      try {
        loadConfig(schema, { NATS_PASSWORD: 'secret-value', NATS_INBOX_PREFIX: 'a.b' });
        return '';
      } catch (error) {
        return String(error);
      }
    })();
    expect(bad).toMatch(/NATS_INBOX_PREFIX: one subject token/);
    expect(bad).not.toContain('secret-value');
  });
});

describe('the KMS variables', () => {
  const withKms = schema.safeExtend(kmsConfigShape);
  const requiringKeyring = schema.safeExtend(kmsConfigShapeRequiringKeyring);
  const problemsOf = (s: typeof withKms, env: Record<string, string>): string[] => {
    try {
      loadConfig(s, env);
      return [];
    } catch (error) {
      return (error as ConfigError).problems.map((p) => `${p.variable}: ${p.problem}`);
    }
  };

  it('defaults to the local keyring and needs nothing else where the service has a default file', () => {
    expect(loadConfig(withKms, {}).HAVEN_KMS).toBe('local');
    expect(problemsOf(requiringKeyring, {})).toEqual(['HAVEN_KEYRING_FILE: required when HAVEN_KMS=local']);
  });

  it('names each variable the chosen adapter requires', () => {
    expect(problemsOf(withKms, { HAVEN_KMS: 'pkcs11', HAVEN_PKCS11_MODULE: '/lib/p11.so' })).toEqual([
      'HAVEN_PKCS11_TOKEN_LABEL: required when HAVEN_KMS=pkcs11',
      'HAVEN_PKCS11_PIN_FILE: required when HAVEN_KMS=pkcs11',
    ]);
    expect(problemsOf(requiringKeyring, { HAVEN_KMS: 'vault-transit' })).toEqual([
      'HAVEN_VAULT_ADDR: required when HAVEN_KMS=vault-transit',
      'HAVEN_VAULT_TOKEN_FILE: required when HAVEN_KMS=vault-transit',
      'HAVEN_VAULT_TRANSIT_KEY: required when HAVEN_KMS=vault-transit',
    ]);
    expect(problemsOf(withKms, { HAVEN_KMS: 'aws' })).toEqual([
      expect.stringMatching(/^HAVEN_KMS: /) as unknown as string,
    ]);
  });

  it('hands openKmsFromEnv the KMS variables only, with the service default keyring', () => {
    const config = loadConfig(withKms, {
      HAVEN_KMS: 'pkcs11',
      HAVEN_PKCS11_MODULE: '/lib/p11.so',
      HAVEN_PKCS11_TOKEN_LABEL: 'haven',
      HAVEN_PKCS11_PIN_FILE: '/run/pin',
      HAVEN_GRPC_PORT: '7000',
    });
    expect(kmsEnvOf(config, { defaultKeyringFile: '/data/keyring.json' })).toEqual({
      HAVEN_KMS: 'pkcs11',
      HAVEN_KEYRING_FILE: '/data/keyring.json',
      HAVEN_PKCS11_MODULE: '/lib/p11.so',
      HAVEN_PKCS11_TOKEN_LABEL: 'haven',
      HAVEN_PKCS11_PIN_FILE: '/run/pin',
    });
  });

  it('lists what openKmsFromEnv reads, for every adapter', () => {
    for (const provider of KMS_PROVIDERS) {
      const { required, optional } = KMS_VARIABLES[provider];
      for (const name of [...required, ...optional]) expect(Object.keys(kmsConfigShape)).toContain(name);
      expect([...KMS_REQUIRED_VARIABLES[provider]].sort()).toEqual(
        required.filter((n) => n !== 'HAVEN_KEYRING_FILE').sort(),
      );
    }
    expect([...KMS_PROVIDERS]).toEqual([...KMS_ADAPTERS]);
  });
});
