/**
 * Passkey commands and their decisions: pure. The WebAuthn verification itself (signatures, challenge, origin,
 * RP ID, attestation statement) is done by the handler with @simplewebauthn/server first and handed in as a
 * proof, so this file stays deterministic: what it decides is whether that proof is accepted here and now
 * (single-use, expiry, the user and session a ceremony is bound to, user verification, the signature counter, the
 * clinic's attestation policy), and which events say so. A refused answer closes its ceremony with
 * PasskeyCeremonyRefused (the handler stores it, then answers UNAUTHENTICATED).
 */
import {
  AlreadyExistsError,
  NotFoundError,
  PreconditionError,
  UnauthenticatedError,
  ValidationError,
} from '@haven/errors';
import {
  CeremonyPurpose,
  MAX_PASSKEYS,
  PasskeyRefusal,
  type AttestationPolicy,
  evolveCeremony,
  evolvePasskeyPolicy,
  evolvePasskeys,
  initialCeremonyState,
  initialPasskeyPolicyState,
  initialPasskeysState,
  type CeremonyEvent,
  type CeremonyState,
  type PasskeyChallengeIssued,
  type PasskeyPolicyEvent,
  type PasskeyPolicyState,
  type PasskeyRegistered,
  type PasskeyRemoved,
  type PasskeysEvent,
  type PasskeySignedIn,
  type PasskeysState,
} from './passkey';
import type { PureDecider } from '../shared/streams';

const iso = (ms: number): string => new Date(ms).toISOString();

/** All zeros: the AAGUID of an authenticator that does not say what it is. */
export const ZERO_AAGUID = '00000000-0000-0000-0000-000000000000';

export type IssuePasskeyChallenge = {
  type: 'IssuePasskeyChallenge';
  data: Omit<PasskeyChallengeIssued['data'], 'expiresAt' | 'at'> & { ttlMs: number; now: number };
};

/** What the handler's verification of a registration response found. */
export type RegistrationProof =
  | { readonly verified: false; readonly reason: PasskeyRefusal }
  | {
      readonly verified: true;
      readonly passkeyId: string;
      readonly aaguid: string;
      readonly attestationFormat: string;
      /**
       * The attestation statement carries a certificate (basic or AttCA attestation): the authenticator's model is
       * vouched for by its maker. Self attestation and `none` only claim it.
       */
      readonly certified: boolean;
      readonly userVerified: boolean;
    };

export type CompletePasskeyRegistration = {
  type: 'CompletePasskeyRegistration';
  data: {
    /** The signed-in caller finishing the ceremony. */
    caller: { userId: string; sessionId: string };
    proof: RegistrationProof;
    policy: AttestationPolicy;
    now: number;
  };
};

/** What the handler's verification of a sign-in (assertion) response found. */
export type SignInProof =
  | {
      readonly verified: false;
      readonly reason: PasskeyRefusal;
      readonly userId: string | null;
      readonly passkeyId: string | null;
    }
  | {
      readonly verified: true;
      readonly userId: string;
      readonly passkeyId: string;
      /** The counter stored for this passkey. */
      readonly storedCounter: number;
      /** The counter the authenticator signed. */
      readonly newCounter: number;
      readonly userVerified: boolean;
      /** The user is active and not locked. */
      readonly userActive: boolean;
    };

export type CompletePasskeySignIn = {
  type: 'CompletePasskeySignIn';
  data: { proof: SignInProof; now: number };
};

/** Every command of a ceremony stream. */
export type CeremonyCommand = IssuePasskeyChallenge | CompletePasskeyRegistration | CompletePasskeySignIn;

/** A command's data: its event's data with the decision time as `now` instead of the recorded `at`. */
type CommandData<E extends { data: { at: string } }> = Omit<E['data'], 'at'> & { now: number };

export type RegisterPasskey = { type: 'RegisterPasskey'; data: CommandData<PasskeyRegistered> };
export type RecordPasskeySignIn = { type: 'RecordPasskeySignIn'; data: CommandData<PasskeySignedIn> };
export type RemovePasskey = { type: 'RemovePasskey'; data: CommandData<PasskeyRemoved> };

/** Every command of a user's passkeys stream. */
export type PasskeysCommand = RegisterPasskey | RecordPasskeySignIn | RemovePasskey;

/**
 * True when a signature counter did not move forward. Authenticators that keep no counter send 0 every time
 * (synced passkeys do): that is not a regression as long as both are 0.
 */
export function counterRegressed(stored: number, presented: number): boolean {
  return (stored > 0 || presented > 0) && presented <= stored;
}

/**
 * True when the clinic's attestation policy accepts the authenticator: any under `none`; under `direct` only a
 * certified attestation (not `none`, not self attestation) of an allowed AAGUID.
 */
export function attestationAllowed(
  policy: AttestationPolicy,
  proof: { attestationFormat: string; aaguid: string; certified: boolean },
): boolean {
  if (policy.kind === 'none') return true;
  if (proof.attestationFormat === 'none' || !proof.certified) return false;
  const aaguid = proof.aaguid.toLowerCase();
  return policy.allowedAaguids.some((a) => a.toLowerCase() === aaguid);
}

/**
 * The events of a ceremony command. Throws PreconditionError when a challenge is issued twice for one ceremony,
 * UnauthenticatedError (no events) when the ceremony does not exist. Every other refusal is the single event
 * PasskeyCeremonyRefused.
 */
export function decideCeremony(command: CeremonyCommand, state: CeremonyState): CeremonyEvent[] {
  switch (command.type) {
    case 'IssuePasskeyChallenge': {
      if (state.status !== 'none') throw new PreconditionError('ceremony already started');
      const { ttlMs, now, ...issued } = command.data;
      return [
        { type: 'PasskeyChallengeIssued', data: { ...issued, expiresAt: iso(now + ttlMs), at: iso(now) } },
      ];
    }
    case 'CompletePasskeyRegistration':
      return completeRegistration(command.data, state);
    case 'CompletePasskeySignIn':
      return completeSignIn(command.data, state);
  }
}

type OpenOrClosed = Exclude<CeremonyState, { status: 'none' }>;

function opened(state: CeremonyState): OpenOrClosed {
  if (state.status === 'none') throw new UnauthenticatedError('unknown passkey ceremony');
  return state;
}

/** The refusal common to both ceremonies: answered already, other purpose, too late. */
function closedWrongOrLate(s: OpenOrClosed, purpose: CeremonyPurpose, now: number): PasskeyRefusal | null {
  if (s.status === 'closed') return PasskeyRefusal.CeremonyUsed;
  if (s.purpose !== purpose) return PasskeyRefusal.WrongPurpose;
  if (now >= s.expiresAt) return PasskeyRefusal.Expired;
  return null;
}

function refused(
  s: OpenOrClosed,
  reason: PasskeyRefusal,
  who: { userId: string | null; passkeyId: string | null },
  now: number,
): CeremonyEvent[] {
  return [
    {
      type: 'PasskeyCeremonyRefused',
      data: { ceremonyId: s.ceremonyId, purpose: s.purpose, reason, ...who, at: iso(now) },
    },
  ];
}

function completeRegistration(d: CompletePasskeyRegistration['data'], state: CeremonyState): CeremonyEvent[] {
  const s = opened(state);
  const { proof, caller, now } = d;
  const passkeyId = proof.verified ? proof.passkeyId : null;
  const refuse = (reason: PasskeyRefusal) => refused(s, reason, { userId: caller.userId, passkeyId }, now);
  const late = closedWrongOrLate(s, CeremonyPurpose.Registration, now);
  if (late !== null) return refuse(late);
  if (s.userId !== caller.userId) return refuse(PasskeyRefusal.WrongUser);
  if (s.sessionId !== caller.sessionId) return refuse(PasskeyRefusal.WrongSession);
  if (!proof.verified) return refuse(proof.reason);
  if (!proof.userVerified) return refuse(PasskeyRefusal.UserNotVerified);
  if (!attestationAllowed(d.policy, proof)) return refuse(PasskeyRefusal.AttestationRefused);
  return [
    {
      type: 'PasskeyCeremonyCompleted',
      data: {
        ceremonyId: s.ceremonyId,
        purpose: s.purpose,
        userId: caller.userId,
        passkeyId: proof.passkeyId,
        at: iso(now),
      },
    },
  ];
}

function completeSignIn(d: CompletePasskeySignIn['data'], state: CeremonyState): CeremonyEvent[] {
  const s = opened(state);
  const { proof, now } = d;
  const refuse = (reason: PasskeyRefusal) =>
    refused(s, reason, { userId: proof.userId, passkeyId: proof.passkeyId }, now);
  const late = closedWrongOrLate(s, CeremonyPurpose.SignIn, now);
  if (late !== null) return refuse(late);
  if (!proof.verified) return refuse(proof.reason);
  if (!proof.userVerified) return refuse(PasskeyRefusal.UserNotVerified);
  if (counterRegressed(proof.storedCounter, proof.newCounter)) return refuse(PasskeyRefusal.CounterRegressed);
  if (!proof.userActive) return refuse(PasskeyRefusal.NotActive);
  return [
    {
      type: 'PasskeyCeremonyCompleted',
      data: {
        ceremonyId: s.ceremonyId,
        purpose: s.purpose,
        userId: proof.userId,
        passkeyId: proof.passkeyId,
        at: iso(now),
      },
    },
  ];
}

/**
 * The events of a passkeys command. Throws AlreadyExistsError (the credential is registered already),
 * PreconditionError (too many passkeys; a sign-in with a passkey removed meanwhile or whose counter another
 * sign-in moved past), NotFoundError (removing a passkey the user does not have).
 */
export function decidePasskeys(command: PasskeysCommand, state: PasskeysState): PasskeysEvent[] {
  const d = command.data;
  const existing = state.passkeys.find((p) => p.passkeyId === d.passkeyId);
  switch (command.type) {
    case 'RegisterPasskey': {
      if (existing) throw new AlreadyExistsError('this passkey is registered already');
      if (state.passkeys.length >= MAX_PASSKEYS)
        throw new PreconditionError(`at most ${MAX_PASSKEYS} passkeys; remove one first`);
      const { now, ...data } = command.data;
      return [{ type: 'PasskeyRegistered', data: { ...data, at: iso(now) } }];
    }
    case 'RecordPasskeySignIn': {
      const { now, ...data } = command.data;
      if (!existing) throw new PreconditionError('the passkey was removed');
      if (counterRegressed(existing.counter, data.counter))
        throw new PreconditionError('the passkey was used meanwhile');
      return [{ type: 'PasskeySignedIn', data: { ...data, at: iso(now) } }];
    }
    case 'RemovePasskey': {
      if (!existing) throw new NotFoundError('passkey not found');
      const { now, ...data } = command.data;
      return [{ type: 'PasskeyRemoved', data: { ...data, at: iso(now) } }];
    }
  }
}

/** An admin sets the clinic's attestation policy. */
export type SetPasskeyPolicy = {
  type: 'SetPasskeyPolicy';
  data: { attestation: string; allowedAaguids: readonly string[]; by: string; now: number };
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The event of a policy change; none when the policy is already the one asked for. Throws ValidationError for an
 * unknown attestation, a malformed AAGUID, or `direct` without an allowed AAGUID (it would refuse everyone).
 */
export function decidePasskeyPolicy(
  command: SetPasskeyPolicy,
  state: PasskeyPolicyState,
): PasskeyPolicyEvent[] {
  const d = command.data;
  const aaguids = [...new Set(d.allowedAaguids.map((a) => a.trim().toLowerCase()))].sort();
  const violations: { field: string; description: string }[] = [];
  if (d.attestation !== 'none' && d.attestation !== 'direct')
    violations.push({ field: 'attestation', description: 'must be none or direct' });
  if (aaguids.some((a) => !UUID.test(a)))
    violations.push({ field: 'allowed_aaguids', description: 'must be AAGUIDs (UUIDs)' });
  if (d.attestation === 'direct' && aaguids.length === 0)
    violations.push({ field: 'allowed_aaguids', description: 'direct attestation needs the allowed models' });
  if (violations.length > 0) throw new ValidationError(violations);
  const attestation = d.attestation as 'none' | 'direct';
  const allowedAaguids = attestation === 'direct' ? aaguids : [];
  const current = state.policy;
  const same =
    current !== null &&
    current.kind === attestation &&
    (current.kind === 'none' || current.allowedAaguids.join(',') === allowedAaguids.join(','));
  if (same) return [];
  return [{ type: 'PasskeyPolicySet', data: { attestation, allowedAaguids, by: d.by, at: iso(d.now) } }];
}

/** The passkey aggregates as the event-store plumbing runs them (decide, evolve, initial state). */
export const ceremonyDecider: PureDecider<CeremonyCommand, CeremonyEvent, CeremonyState> = {
  decide: decideCeremony,
  evolve: evolveCeremony,
  initialState: initialCeremonyState,
};

export const passkeysDecider: PureDecider<PasskeysCommand, PasskeysEvent, PasskeysState> = {
  decide: decidePasskeys,
  evolve: evolvePasskeys,
  initialState: initialPasskeysState,
};

export const passkeyPolicyDecider: PureDecider<SetPasskeyPolicy, PasskeyPolicyEvent, PasskeyPolicyState> = {
  decide: decidePasskeyPolicy,
  evolve: evolvePasskeyPolicy,
  initialState: initialPasskeyPolicyState,
};
