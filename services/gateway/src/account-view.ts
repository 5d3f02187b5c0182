/**
 * A staff account's JSON as the sign-in and account pages read it: the sign-in's answer, the current user, TOTP
 * enrollment, passkeys, SSO accounts waiting for approval. Types only and no imports: the browser app (web/src/staff/types.ts) imports this file as
 * well, so each wire shape has one definition.
 */

/** `POST /api/auth/totp/enroll`: the secret, shown once, with its QR code as a data: URL. */
export interface TotpEnrollmentView {
  readonly secret: string;
  readonly otpauthUri: string;
  readonly qr: string;
}

/** `POST /api/auth/totp/confirm`: the one-time recovery codes, shown once. */
export interface RecoveryCodesView {
  readonly recoveryCodes: readonly string[];
}

/** A passkey (`/api/me/passkeys`, `/api/users/:id/passkeys`, the registration's answer). */
export interface PasskeyView {
  readonly id: string;
  readonly name: string;
  readonly aaguid: string;
  readonly backedUp: boolean;
  /** ISO 8601; null when identity did not say. */
  readonly createdAt: string | null;
  readonly lastUsedAt: string | null;
}

/** `GET /api/me/passkeys`, `GET /api/users/:id/passkeys`. */
export interface PasskeyListView {
  readonly passkeys: readonly PasskeyView[];
}

/** `POST /api/auth/passkeys/register/finish`: the passkey as stored. */
export interface PasskeyRegisteredView {
  readonly passkey: PasskeyView;
}

/**
 * WebAuthn options as identity made them (the JSON form of `PublicKeyCredentialCreationOptions` or
 * `PublicKeyCredentialRequestOptions`), handed to the browser's WebAuthn library as they are once the gateway has
 * checked the fields the library needs (`webauthn-options.ts`); identity checks the ceremony's answer.
 */
export interface WebAuthnOptionsView {
  readonly challenge: string;
  readonly [field: string]: unknown;
}

/** `POST /api/auth/passkeys/sign-in/start` (the ceremony rides in an httpOnly cookie). */
export interface PasskeySignInStartView {
  readonly options: WebAuthnOptionsView;
}

/** `POST /api/auth/passkeys/register/start`: the ceremony to send back with the browser's answer. */
export interface PasskeyRegistrationStartView {
  readonly ceremony: string;
  readonly options: WebAuthnOptionsView;
}

/** `GET` and `PUT /api/passkey-policy`: the attestation new passkeys need, and the authenticator models allowed. */
export interface PasskeyPolicyView {
  readonly attestation: 'none' | 'direct';
  /** Empty: any model. */
  readonly allowedAaguids: readonly string[];
}

/** An account that signed in through an identity provider (`/api/sso-accounts`), waiting for an admin or not. */
export interface SsoAccountView {
  readonly id: string;
  readonly identityProvider: string;
  readonly email: string;
  /** Empty when the provider gave none. */
  readonly displayName: string;
  /** A staff role name, `unknown` for anything else. */
  readonly requestedRole: string;
  /** `pending`, `approved`, `rejected` or `unknown`. */
  readonly state: string;
  /** The staff user made on approval; null before. */
  readonly userId: string | null;
  readonly createTime: string | null;
}

/** `GET /api/sso-accounts` (admins; `?state=pending` for those waiting). */
export interface SsoAccountListView {
  readonly accounts: readonly SsoAccountView[];
}

/** A staff role as the pages name it. */
export type StaffRoleName = 'admin' | 'clinician' | 'front_desk' | 'auditor';

/** `GET /api/me`: who the staff cookie names, and the idle logoff timeout in force. */
export interface MeView {
  readonly sub: string;
  /** A staff role name; null when the token carries none (the account still has to enrol a second factor). */
  readonly role: string | null;
  readonly kind: string;
  readonly idleTimeoutSec: number;
}

/** `POST /api/auth/login`: the role (`unknown` for anything else) and what the account still has to do. */
export interface LoginView {
  readonly user: { readonly role: StaffRoleName | 'unknown' };
  readonly mfaEnrollmentRequired: boolean;
  readonly passwordChangeRequired: boolean;
}

/**
 * `POST /api/auth/logout` after a sign-in through the clinic's identity provider (200): where the page goes next,
 * so the provider's session ends too. Any other logout answers 204, no body.
 */
export interface LogoutView {
  readonly endSessionUrl: string;
}

/** One clinic identity provider for the "Sign in with …" buttons: a plain navigation to `startUrl`. */
export interface SsoProviderView {
  readonly id: string;
  readonly displayName: string;
  readonly startUrl: string;
}

/** `GET /api/auth/sso/providers` (none when SSO is off). */
export interface SsoProviderListView {
  readonly providers: readonly SsoProviderView[];
}
