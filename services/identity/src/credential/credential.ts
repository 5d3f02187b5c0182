/**
 * The Credential aggregate: a user's secrets. Pure.
 *
 * Password hashes, TOTP secrets and recovery-code digests are secrets, not PHI, but they must never reach a log, a
 * span, the bus — or the permanent event store in the clear. They live in their own stream,
 * `identity.credential-<userId>`, written and read only by the identity service, and the secret fields of these
 * events are stored sealed (CredentialStore + SecretSealer; docs/adr/0006-secrets-out-of-events.md): the events
 * here are the opened, in-memory form. The User stream only says *that* a password changed (`PasswordChanged`).
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
/** A new TOTP secret; `enrollmentId` names the data key it is sealed under (destroyed on reset or replacement). */
export type TotpSecretIssued = {
  type: 'TotpSecretIssued';
  data: { userId: string; enrollmentId: string; secret: string; at: string };
};
export type TotpSecretConfirmed = { type: 'TotpSecretConfirmed'; data: { userId: string; at: string } };
export type TotpSecretRevoked = { type: 'TotpSecretRevoked'; data: { userId: string; at: string } };
/** SHA-256 digests of the 10 one-time recovery codes (each 80 random bits, so a fast hash suffices). */
export type RecoveryCodesIssued = {
  type: 'RecoveryCodesIssued';
  data: { userId: string; enrollmentId: string; hashes: string[]; at: string };
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

/**
 * The migration of a stream written before secrets were sealed: the secrets its plaintext events held, sealed
 * again (the plaintext events are never read as secrets any more). Those secrets were exposed in the store.
 */
export type CredentialsResealed = {
  type: 'CredentialsResealed';
  data: {
    userId: string;
    passwordHash: string | null;
    passwordSetAt: string | null;
    history: string[];
    clientSecretHash: string | null;
    totp: {
      enrollmentId: string;
      secret: string;
      confirmed: boolean;
      recoveryCodeHashes: (string | null)[];
    } | null;
    at: string;
  };
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
  | ClientSecretHashSet
  | CredentialsResealed;

export interface CredentialState {
  /** Current argon2id PHC hash, or null before activation. */
  readonly passwordHash: string | null;
  readonly passwordSetAt: number | null;
  /** The last {@link PASSWORD_HISTORY} hashes, newest last (includes the current one). */
  readonly history: readonly string[];
  readonly totpSecret: string | null;
  /** The enrollment whose key seals the current TOTP secret and recovery codes. */
  readonly totpEnrollmentId: string | null;
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
  totpEnrollmentId: null,
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
      return {
        ...state,
        totpSecret: event.data.secret,
        totpEnrollmentId: event.data.enrollmentId,
        totpConfirmed: false,
      };
    case 'TotpSecretConfirmed':
      return { ...state, totpConfirmed: state.totpSecret !== null };
    case 'TotpSecretRevoked':
      return {
        ...state,
        totpSecret: null,
        totpEnrollmentId: null,
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
    case 'CredentialsResealed': {
      const d = event.data;
      return {
        ...state,
        passwordHash: d.passwordHash,
        passwordSetAt: d.passwordSetAt === null ? null : Date.parse(d.passwordSetAt),
        history: [...d.history].slice(-PASSWORD_HISTORY),
        clientSecretHash: d.clientSecretHash,
        totpSecret: d.totp?.secret ?? null,
        totpEnrollmentId: d.totp?.enrollmentId ?? null,
        totpConfirmed: d.totp?.confirmed ?? false,
        recoveryCodeHashes: d.totp ? [...d.totp.recoveryCodeHashes] : [],
      };
    }
  }
}
