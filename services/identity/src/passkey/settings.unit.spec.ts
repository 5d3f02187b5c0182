import { ConfigError } from '@haven/service';
import { loadIdentityConfig } from '../config';
import { rpIdValidFor, webAuthnSettings } from './settings';

const settingsOf = (env: Record<string, string>) => webAuthnSettings(loadIdentityConfig(env));

describe('where passkeys are valid', () => {
  it('uses the public URL: its origin, and its host as the RP ID', () => {
    expect(settingsOf({ HAVEN_PUBLIC_URL: 'https://haven.clinic.example' })).toEqual({
      rpId: 'haven.clinic.example',
      rpName: 'Haven',
      origins: ['https://haven.clinic.example'],
      attestation: { kind: 'none' },
    });
    expect(settingsOf({})?.rpId).toBe('localhost');
    expect(settingsOf({ HAVEN_PUBLIC_URL: 'http://localhost:8080' })?.origins).toEqual([
      'http://localhost:8080',
    ]);
  });

  it('turns passkeys off for an IP address host: an IP is never an RP ID', () => {
    expect(settingsOf({ HAVEN_PUBLIC_URL: 'http://127.0.0.1:8080' })).toBeNull();
    expect(settingsOf({ HAVEN_PUBLIC_URL: 'http://[::1]:8080' })).toBeNull();
    expect(() =>
      settingsOf({ HAVEN_PUBLIC_URL: 'http://127.0.0.1:8080', HAVEN_WEBAUTHN_RP_ID: '127.0.0.1' }),
    ).toThrow(ConfigError);
  });

  it('takes a parent domain as the RP ID, never another site or a part of a label', () => {
    expect(
      settingsOf({ HAVEN_PUBLIC_URL: 'https://haven.clinic.example', HAVEN_WEBAUTHN_RP_ID: 'clinic.example' })
        ?.rpId,
    ).toBe('clinic.example');
    expect(() =>
      settingsOf({ HAVEN_PUBLIC_URL: 'https://haven.clinic.example', HAVEN_WEBAUTHN_RP_ID: 'other.example' }),
    ).toThrow(/HAVEN_WEBAUTHN_RP_ID/);
    expect(rpIdValidFor('nic.example', 'haven.clinic.example')).toBe(false);
    expect(rpIdValidFor('localhost', 'localhost')).toBe(true);
  });

  it('reads the attestation policy; direct needs the allowed authenticator models', () => {
    const aaguid = 'CB69481E-8FF7-4039-93EC-0A2729A154A8';
    expect(
      settingsOf({ HAVEN_PASSKEY_ATTESTATION: 'direct', HAVEN_PASSKEY_AAGUIDS: ` ${aaguid} ` })?.attestation,
    ).toEqual({ kind: 'direct', allowedAaguids: [aaguid.toLowerCase()] });
    expect(() => settingsOf({ HAVEN_PASSKEY_ATTESTATION: 'direct' })).toThrow(/HAVEN_PASSKEY_AAGUIDS/);
    expect(() => settingsOf({ HAVEN_PASSKEY_AAGUIDS: 'yubikey' })).toThrow(/HAVEN_PASSKEY_AAGUIDS/);
    expect(() => loadIdentityConfig({ HAVEN_PASSKEY_ATTESTATION: 'indirect' })).toThrow(
      /HAVEN_PASSKEY_ATTESTATION/,
    );
  });
});
