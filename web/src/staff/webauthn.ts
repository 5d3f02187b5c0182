/**
 * Passkeys (WebAuthn) with @simplewebauthn/browser, served by the gateway at /vendor/simplewebauthn-browser.js
 * (a classic script that sets window.SimpleWebAuthnBrowser). The ceremonies' checks are all server-side.
 */
import { api } from '../api/client';
import type {
  Passkey,
  PasskeyRegisteredView,
  PasskeyRegistrationStartView,
  PasskeySignInStartView,
  WebAuthnOptions,
} from './types';

interface SimpleWebAuthnBrowser {
  browserSupportsWebAuthn(): boolean;
  startAuthentication(o: { optionsJSON: WebAuthnOptions }): Promise<unknown>;
  startRegistration(o: { optionsJSON: WebAuthnOptions }): Promise<unknown>;
}

declare global {
  interface Window {
    SimpleWebAuthnBrowser?: SimpleWebAuthnBrowser;
  }
}

/** Thrown when the browser has no WebAuthn. */
export class NoPasskeysError extends Error {
  constructor() {
    super('This browser does not support passkeys.');
    this.name = 'NoPasskeysError';
  }
}

function webauthn(): SimpleWebAuthnBrowser {
  const w = window.SimpleWebAuthnBrowser;
  if (!w?.browserSupportsWebAuthn()) throw new NoPasskeysError();
  return w;
}

/** The message to show for a failed ceremony: the browser's (cancelled, not allowed) or the server's. */
export function passkeyFailure(err: unknown): string {
  if (err instanceof Error && err.name === 'NotAllowedError')
    return 'The passkey request was cancelled or timed out.';
  return (err instanceof Error && err.message) || 'The passkey was not accepted.';
}

/** Signs in with a passkey (the session cookies are set by the finish call). Throws when it fails. */
export async function signInWithPasskey(): Promise<void> {
  const w = webauthn();
  const { options } = await api<PasskeySignInStartView>('POST', '/api/auth/passkeys/sign-in/start', {});
  const response = await w.startAuthentication({ optionsJSON: options });
  await api('POST', '/api/auth/passkeys/sign-in/finish', { response });
}

/** Registers a passkey for the signed-in user (an enrollment-only session is enough); resolves with it. */
export async function registerPasskey(name: string): Promise<Passkey> {
  const w = webauthn();
  const { ceremony, options } = await api<PasskeyRegistrationStartView>(
    'POST',
    '/api/auth/passkeys/register/start',
    {},
  );
  const response = await w.startRegistration({ optionsJSON: options });
  const { passkey } = await api<PasskeyRegisteredView>('POST', '/api/auth/passkeys/register/finish', {
    ceremony,
    response,
    name,
  });
  return passkey;
}
