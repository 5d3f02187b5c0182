import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './config';
import { loadSsoConfig, NO_SSO, parseSsoConfig, ssoProvider } from './sso-config';

const provider = {
  id: 'northside',
  displayName: 'Northside Health',
  issuer: 'https://idp.northside.example/realms/staff',
  clientId: 'haven',
  clientSecretFile: '/run/secrets/northside',
  roles: [{ group: 'haven-admins', role: 'admin' }],
};

function problems(value: unknown): string[] {
  try {
    parseSsoConfig(value);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems.map((p) => p.problem);
  }
  throw new Error('parsed');
}

describe('SSO configuration', () => {
  it('parses providers with defaults (groups claim, no extra scopes)', () => {
    const config = parseSsoConfig({ providers: [provider] });
    expect(ssoProvider(config, 'northside')).toMatchObject({ groupsClaim: 'groups', scopes: [] });
    expect(ssoProvider(config, 'other')).toBeUndefined();
  });

  it('refuses a plain-http issuer except on a loopback host', () => {
    expect(problems({ providers: [{ ...provider, issuer: 'http://idp.example' }] })).toEqual([
      expect.stringContaining('providers.0.issuer'),
    ]);
    expect(() =>
      parseSsoConfig({ providers: [{ ...provider, issuer: 'http://127.0.0.1:4000' }] }),
    ).not.toThrow();
  });

  it('refuses unknown roles, unknown fields, no mappings and duplicate ids, naming each', () => {
    expect(problems({ providers: [{ ...provider, roles: [{ group: 'g', role: 'patient' }] }] })[0]).toMatch(
      /providers\.0\.roles\.0\.role/,
    );
    expect(problems({ providers: [{ ...provider, clientSecret: 'inline' }] })[0]).toMatch(/providers\.0/);
    expect(problems({ providers: [{ ...provider, roles: [] }] })[0]).toMatch(/providers\.0\.roles/);
    expect(problems({ providers: [provider, provider] })[0]).toMatch(/unique/);
  });

  it('reads a JSON file, and no file means local accounts only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'haven-sso-'));
    writeFileSync(join(dir, 'sso.json'), JSON.stringify({ providers: [provider] }));
    expect(loadSsoConfig(join(dir, 'sso.json')).providers).toHaveLength(1);
    expect(loadSsoConfig(undefined)).toBe(NO_SSO);
    writeFileSync(join(dir, 'bad.json'), '{');
    expect(() => loadSsoConfig(join(dir, 'bad.json'))).toThrow(/HAVEN_SSO_CONFIG_FILE/);
  });
});
