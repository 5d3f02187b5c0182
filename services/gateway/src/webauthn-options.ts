/**
 * Identity's WebAuthn options, checked before they reach the browser: the fields @simplewebauthn/browser decodes
 * or needs before it calls `navigator.credentials` (the challenge, the user and credential ids, the relying party,
 * the algorithms, the timeout). The rest is passed on as identity made it; identity checks the ceremony's answer.
 */
import { z } from 'zod';
import type { WebAuthnOptionsView } from './account-view';

const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/);
const credential = z.looseObject({ id: base64url, type: z.literal('public-key') });
const timeout = z.number().optional();

const SCHEMAS = {
  /** `PublicKeyCredentialCreationOptionsJSON` (registration). */
  creation: z.looseObject({
    challenge: base64url,
    timeout,
    rp: z.looseObject({ name: z.string(), id: z.string().optional() }),
    user: z.looseObject({ id: base64url, name: z.string(), displayName: z.string() }),
    pubKeyCredParams: z.array(z.looseObject({ type: z.literal('public-key'), alg: z.number().int() })).min(1),
    excludeCredentials: z.array(credential).optional(),
  }),
  /** `PublicKeyCredentialRequestOptionsJSON` (sign-in). */
  request: z.looseObject({
    challenge: base64url,
    timeout,
    rpId: z.string().optional(),
    allowCredentials: z.array(credential).optional(),
  }),
} as const;

/** Which WebAuthn ceremony options are for. */
export type WebAuthnCeremony = keyof typeof SCHEMAS;

/** `optionsJson` as identity wrote it when it is well-formed options for `ceremony`, else undefined. Throws nothing. */
export function webAuthnOptions(
  optionsJson: string,
  ceremony: WebAuthnCeremony,
): WebAuthnOptionsView | undefined {
  let options: unknown;
  try {
    options = JSON.parse(optionsJson);
  } catch {
    return undefined;
  }
  return SCHEMAS[ceremony].safeParse(options).success ? (options as WebAuthnOptionsView) : undefined;
}
