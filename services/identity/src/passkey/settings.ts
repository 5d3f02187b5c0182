/**
 * Where passkeys are valid: the WebAuthn relying party (RP ID, origins) and the clinic's attestation policy, from
 * the configuration. WebAuthn's rules: the RP ID is a domain, equal to the page's host or a registrable suffix of
 * it (`clinic.example` for `https://haven.clinic.example`); an IP address is never a valid RP ID, and `localhost`
 * is (a secure context over plain http). With no domain to use, passkeys are off.
 */
import { isIP } from 'node:net';
import { ConfigError } from '@haven/service';
import type { AttestationPolicy } from './passkey';

/** The relying party and the attestation policy. */
export interface WebAuthnSettings {
  readonly rpId: string;
  /** Shown by the authenticator. */
  readonly rpName: string;
  /** The page origins a response may come from. */
  readonly origins: readonly string[];
  readonly attestation: AttestationPolicy;
}

/** The variables {@link webAuthnSettings} reads (already parsed by the identity schema). */
export interface WebAuthnConfig {
  readonly HAVEN_PUBLIC_URL: string;
  readonly HAVEN_WEBAUTHN_RP_ID?: string | undefined;
  readonly HAVEN_PASSKEY_ATTESTATION: 'none' | 'direct';
  readonly HAVEN_PASSKEY_AAGUIDS: readonly string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `rpId` may serve a page on `host`: the same name, or a parent domain of it (never an IP). */
export function rpIdValidFor(rpId: string, host: string): boolean {
  if (rpId === '' || isIP(rpId) !== 0 || rpId.startsWith('.') || rpId.endsWith('.')) return false;
  return host === rpId || host.endsWith(`.${rpId}`);
}

/**
 * The settings, or null when passkeys are off (the public URL's host is an IP address and no RP ID is set).
 * Throws ConfigError naming the variable when the RP ID cannot serve the public URL, or when a direct attestation
 * policy lists no (or a malformed) AAGUID.
 */
export function webAuthnSettings(config: WebAuthnConfig): WebAuthnSettings | null {
  const origin = new URL(config.HAVEN_PUBLIC_URL);
  const host = origin.hostname.replace(/^\[|\]$/g, '');
  const rpId = config.HAVEN_WEBAUTHN_RP_ID?.trim().toLowerCase() ?? (isIP(host) === 0 ? host : undefined);
  if (rpId === undefined) return null;
  if (!rpIdValidFor(rpId, host))
    throw new ConfigError([
      {
        variable: 'HAVEN_WEBAUTHN_RP_ID',
        problem: `must be the host of HAVEN_PUBLIC_URL (${host}) or a parent domain of it, never an IP address`,
      },
    ]);
  const aaguids = config.HAVEN_PASSKEY_AAGUIDS.map((a) => a.toLowerCase());
  if (aaguids.some((a) => !UUID.test(a)))
    throw new ConfigError([{ variable: 'HAVEN_PASSKEY_AAGUIDS', problem: 'must be a comma list of UUIDs' }]);
  if (config.HAVEN_PASSKEY_ATTESTATION === 'direct' && aaguids.length === 0)
    throw new ConfigError([
      {
        variable: 'HAVEN_PASSKEY_AAGUIDS',
        problem: 'list the allowed authenticators for direct attestation',
      },
    ]);
  return {
    rpId,
    rpName: 'Haven',
    origins: [origin.origin],
    attestation:
      config.HAVEN_PASSKEY_ATTESTATION === 'direct'
        ? { kind: 'direct', allowedAaguids: aaguids }
        : { kind: 'none' },
  };
}
