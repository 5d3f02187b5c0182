/**
 * Passkeys (WebAuthn) of staff users: events, state and evolve of two aggregates. Pure.
 *
 * - `identity.passkeys-<userId>`: a user's registered passkeys (credential id, COSE public key, signature
 *   counter, AAGUID). A public key is not a secret; no private key or attestation certificate is ever stored.
 * - `identity.webauthn-<ceremonyId>`: one registration or sign-in ceremony. Its challenge is kept only as a
 *   SHA-256 digest; the ceremony is single-use (it closes on its first answer, accepted or refused) and short-lived.
 *
 * Every enrolment (PasskeyRegistered), sign-in (PasskeySignedIn, and LoginSucceeded on the user's stream), refusal
 * (PasskeyCeremonyRefused, with a reason) and removal (PasskeyRemoved) is an event. The decisions are in decide.ts.
 */

/** `identity.passkeys-<userId>`. */
export function passkeysStream(userId: string): string {
  return `identity.passkeys-${userId}`;
}

/** `identity.webauthn-<ceremonyId>`. */
export function ceremonyStream(ceremonyId: string): string {
  return `identity.webauthn-${ceremonyId}`;
}

/** `identity.passkey-policy`: the clinic's attestation policy as its admins set it (over the configured one). */
export const PASSKEY_POLICY_STREAM = 'identity.passkey-policy';

/** How many passkeys one user may hold. */
export const MAX_PASSKEYS = 10;

/** How long a ceremony's challenge may be answered. */
export const CEREMONY_TTL_MS = 2 * 60_000;

/** What a ceremony is for. */
export const CeremonyPurpose = { Registration: 'registration', SignIn: 'sign_in' } as const;
export type CeremonyPurpose = (typeof CeremonyPurpose)[keyof typeof CeremonyPurpose];

/** Why a ceremony's answer was refused (recorded in PasskeyCeremonyRefused). */
export const PasskeyRefusal = {
  /** The ceremony had already been answered (a replay, or a second try with the same challenge). */
  CeremonyUsed: 'ceremony_used',
  Expired: 'expired',
  /** A registration ceremony answered to sign in, or the reverse. */
  WrongPurpose: 'wrong_purpose',
  /** A registration finished by another user than the one who started it. */
  WrongUser: 'wrong_user',
  /** A registration finished from another session than the one that started it. */
  WrongSession: 'wrong_session',
  /** The response was signed over another challenge (another ceremony's, another session's). */
  ChallengeMismatch: 'challenge_mismatch',
  OriginMismatch: 'origin_mismatch',
  /** The credential is not one of the user its user handle names. */
  UnknownCredential: 'unknown_credential',
  /** The signature, the authenticator data or the attestation did not verify. */
  InvalidResponse: 'invalid_response',
  /** The authenticator did not verify the user (PIN, biometrics): required for passwordless sign-in. */
  UserNotVerified: 'user_not_verified',
  /** The signature counter did not increase: a cloned authenticator is suspected. */
  CounterRegressed: 'counter_regressed',
  /** The clinic's attestation policy refuses this authenticator (format or AAGUID). */
  AttestationRefused: 'attestation_refused',
  /** The user is not active (deactivated, locked, never activated). */
  NotActive: 'not_active',
} as const;
export type PasskeyRefusal = (typeof PasskeyRefusal)[keyof typeof PasskeyRefusal];

/** The clinic's attestation policy: any authenticator (`none`), or attested ones of the listed AAGUIDs. */
export type AttestationPolicy =
  { readonly kind: 'none' } | { readonly kind: 'direct'; readonly allowedAaguids: readonly string[] };

export type PasskeyChallengeIssued = {
  type: 'PasskeyChallengeIssued';
  data: {
    ceremonyId: string;
    purpose: CeremonyPurpose;
    /** The signed-in user a registration is bound to; null for a sign-in. */
    userId: string | null;
    /** The session a registration is bound to; null for a sign-in. */
    sessionId: string | null;
    /** Hex SHA-256 of the challenge (the challenge itself goes to the browser only). */
    challengeSha256: string;
    expiresAt: string;
    at: string;
  };
};
export type PasskeyCeremonyCompleted = {
  type: 'PasskeyCeremonyCompleted';
  data: { ceremonyId: string; purpose: CeremonyPurpose; userId: string; passkeyId: string; at: string };
};
export type PasskeyCeremonyRefused = {
  type: 'PasskeyCeremonyRefused';
  data: {
    ceremonyId: string;
    purpose: CeremonyPurpose;
    reason: PasskeyRefusal;
    /** The user the answer claimed or the ceremony is bound to, when known. */
    userId: string | null;
    /** The credential id the answer presented, when it parsed. */
    passkeyId: string | null;
    at: string;
  };
};

/** Every event of a ceremony stream. */
export type CeremonyEvent = PasskeyChallengeIssued | PasskeyCeremonyCompleted | PasskeyCeremonyRefused;

export type PasskeyRegistered = {
  type: 'PasskeyRegistered';
  data: {
    userId: string;
    /** The credential id (base64url): the passkey's name is `users/{user}/passkeys/{passkeyId}`. */
    passkeyId: string;
    /** The COSE public key (base64url). */
    publicKey: string;
    counter: number;
    transports: string[];
    /** The authenticator model (lower-case UUID; all zeros when the authenticator does not say). */
    aaguid: string;
    /** The attestation statement format (`none`, `packed`, …). */
    attestationFormat: string;
    /** Whether the passkey is synced (backed up) by its provider. */
    backedUp: boolean;
    displayName: string;
    at: string;
  };
};
export type PasskeySignedIn = {
  type: 'PasskeySignedIn';
  data: { userId: string; passkeyId: string; counter: number; sessionId: string; at: string };
};
export type PasskeyRemoved = {
  type: 'PasskeyRemoved';
  data: { userId: string; passkeyId: string; by: 'self' | 'admin'; actorId: string; at: string };
};

/** Every event of a user's passkeys stream. */
export type PasskeysEvent = PasskeyRegistered | PasskeySignedIn | PasskeyRemoved;

/** One registered passkey. */
export interface Passkey {
  readonly passkeyId: string;
  readonly publicKey: string;
  readonly counter: number;
  readonly transports: readonly string[];
  readonly aaguid: string;
  readonly backedUp: boolean;
  readonly displayName: string;
  readonly createdAt: number;
  readonly lastUsedAt: number | null;
}

/** A user's passkeys, oldest first. */
export interface PasskeysState {
  readonly passkeys: readonly Passkey[];
}

export const initialPasskeysState: PasskeysState = { passkeys: [] };

/** Folds one event of a user's passkeys stream. */
export function evolvePasskeys(state: PasskeysState, event: PasskeysEvent): PasskeysState {
  const at = Date.parse(event.data.at);
  switch (event.type) {
    case 'PasskeyRegistered': {
      const d = event.data;
      const passkey: Passkey = {
        passkeyId: d.passkeyId,
        publicKey: d.publicKey,
        counter: d.counter,
        transports: [...d.transports],
        aaguid: d.aaguid,
        backedUp: d.backedUp,
        displayName: d.displayName,
        createdAt: at,
        lastUsedAt: null,
      };
      return { passkeys: [...state.passkeys.filter((p) => p.passkeyId !== d.passkeyId), passkey] };
    }
    case 'PasskeySignedIn':
      return {
        passkeys: state.passkeys.map((p) =>
          p.passkeyId === event.data.passkeyId ? { ...p, counter: event.data.counter, lastUsedAt: at } : p,
        ),
      };
    case 'PasskeyRemoved':
      return { passkeys: state.passkeys.filter((p) => p.passkeyId !== event.data.passkeyId) };
  }
}

/** A ceremony: none yet, open (its challenge may be answered once) or closed. */
export type CeremonyState =
  | { readonly status: 'none' }
  | {
      readonly status: 'open' | 'closed';
      readonly ceremonyId: string;
      readonly purpose: CeremonyPurpose;
      readonly userId: string | null;
      readonly sessionId: string | null;
      readonly challengeSha256: string;
      readonly expiresAt: number;
    };

export const initialCeremonyState: CeremonyState = { status: 'none' };

/** Folds one event of a ceremony stream. */
export function evolveCeremony(state: CeremonyState, event: CeremonyEvent): CeremonyState {
  switch (event.type) {
    case 'PasskeyChallengeIssued': {
      const d = event.data;
      return {
        status: 'open',
        ceremonyId: d.ceremonyId,
        purpose: d.purpose,
        userId: d.userId,
        sessionId: d.sessionId,
        challengeSha256: d.challengeSha256,
        expiresAt: Date.parse(d.expiresAt),
      };
    }
    case 'PasskeyCeremonyCompleted':
    case 'PasskeyCeremonyRefused':
      return state.status === 'none' ? state : { ...state, status: 'closed' };
  }
}

/** An admin set the clinic's attestation policy. */
export type PasskeyPolicySet = {
  type: 'PasskeyPolicySet';
  data: { attestation: 'none' | 'direct'; allowedAaguids: string[]; by: string; at: string };
};

/** Every event of the policy stream. */
export type PasskeyPolicyEvent = PasskeyPolicySet;

/** The policy an admin set, or null (the configured one applies). */
export interface PasskeyPolicyState {
  readonly policy: AttestationPolicy | null;
}

export const initialPasskeyPolicyState: PasskeyPolicyState = { policy: null };

/** Folds one event of the policy stream. */
export function evolvePasskeyPolicy(
  _state: PasskeyPolicyState,
  event: PasskeyPolicyEvent,
): PasskeyPolicyState {
  const d = event.data;
  return {
    policy:
      d.attestation === 'direct'
        ? { kind: 'direct', allowedAaguids: [...d.allowedAaguids] }
        : { kind: 'none' },
  };
}
