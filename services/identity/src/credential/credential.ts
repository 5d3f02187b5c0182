/**
 * The Credential aggregate: a user's secrets. Pure.
 *
 * Decision (see README "Credentials"): password hashes and TOTP secrets are secrets, not PHI, but
 * they must never reach a log, a span or the bus. They live in their own stream,
 * `identity.credential-<userId>`, written and read only by the identity service; the identity
 * service publishes no credential event on the bus, and the User stream only says *that* a password
 * changed (`PasswordChanged`), never what it is. Event consumers (audit) must skip streams that
 * start with {@link CREDENTIAL_STREAM_PREFIX}.
 */

/** Prefix of every credential stream. */
export const CREDENTIAL_STREAM_PREFIX = 'identity.credential-';

/** `identity.credential-<userId>`. */
export function credentialStream(userId: string): string {
  return `${CREDENTIAL_STREAM_PREFIX}${userId}`;
}

/** How many recent password hashes are kept and refused on change (current included). */
export const PASSWORD_HISTORY = 5;

export type PasswordHashSet = { type: 'PasswordHashSet'; data: { userId: string; hash: string; at: string } };
export type TotpSecretIssued = {
  type: 'TotpSecretIssued';
  data: { userId: string; secret: string; at: string };
};
export type TotpSecretConfirmed = { type: 'TotpSecretConfirmed'; data: { userId: string; at: string } };
export type TotpSecretRevoked = { type: 'TotpSecretRevoked'; data: { userId: string; at: string } };
/** SHA-256 digests of the 10 one-time recovery codes (each 80 random bits, so a fast hash suffices). */
export type RecoveryCodesIssued = {
  type: 'RecoveryCodesIssued';
  data: { userId: string; hashes: string[]; at: string };
};
export type RecoveryCodeConsumed = {
  type: 'RecoveryCodeConsumed';
  data: { userId: string; index: number; at: string };
};
/** The TOTP time step last accepted: a code is never accepted twice (replay). */
export type TotpCodeAccepted = {
  type: 'TotpCodeAccepted';
  data: { userId: string; timeStep: number; at: string };
};
/** A service account's client secret (argon2id PHC). `userId` is `sa-<accountId>`. */
export type ClientSecretHashSet = {
  type: 'ClientSecretHashSet';
  data: { userId: string; hash: string; at: string };
};

/** Every event of the Credential aggregate (never published on the bus). */
export type CredentialEvent =
  | PasswordHashSet
  | TotpSecretIssued
  | TotpSecretConfirmed
  | TotpSecretRevoked
  | RecoveryCodesIssued
  | RecoveryCodeConsumed
  | TotpCodeAccepted
  | ClientSecretHashSet;

export interface CredentialState {
  /** Current argon2id PHC hash, or null before activation. */
  readonly passwordHash: string | null;
  readonly passwordSetAt: number | null;
  /** The last {@link PASSWORD_HISTORY} hashes, newest last (includes the current one). */
  readonly history: readonly string[];
  readonly totpSecret: string | null;
  readonly totpConfirmed: boolean;
  /** Recovery code digests; null once used. */
  readonly recoveryCodeHashes: readonly (string | null)[];
  readonly lastTotpTimeStep: number | null;
  readonly clientSecretHash: string | null;
}

export const initialCredentialState: CredentialState = {
  passwordHash: null,
  passwordSetAt: null,
  history: [],
  totpSecret: null,
  totpConfirmed: false,
  recoveryCodeHashes: [],
  lastTotpTimeStep: null,
  clientSecretHash: null,
};

/** Folds one credential event. */
export function evolveCredential(state: CredentialState, event: CredentialEvent): CredentialState {
  switch (event.type) {
    case 'PasswordHashSet':
      return {
        ...state,
        passwordHash: event.data.hash,
        passwordSetAt: Date.parse(event.data.at),
        history: [...state.history, event.data.hash].slice(-PASSWORD_HISTORY),
      };
    case 'TotpSecretIssued':
      return { ...state, totpSecret: event.data.secret, totpConfirmed: false };
    case 'TotpSecretConfirmed':
      return { ...state, totpConfirmed: state.totpSecret !== null };
    case 'TotpSecretRevoked':
      return {
        ...state,
        totpSecret: null,
        totpConfirmed: false,
        recoveryCodeHashes: [],
        lastTotpTimeStep: null,
      };
    case 'RecoveryCodesIssued':
      return { ...state, recoveryCodeHashes: [...event.data.hashes] };
    case 'RecoveryCodeConsumed':
      return {
        ...state,
        recoveryCodeHashes: state.recoveryCodeHashes.map((h, i) => (i === event.data.index ? null : h)),
      };
    case 'TotpCodeAccepted':
      return { ...state, lastTotpTimeStep: event.data.timeStep };
    case 'ClientSecretHashSet':
      return { ...state, clientSecretHash: event.data.hash };
  }
}
