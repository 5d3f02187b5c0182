import { given, iso } from '@haven/testing';
import {
  AlreadyExistsError,
  NotFoundError,
  PreconditionError,
  UnauthenticatedError,
  ValidationError,
} from '@haven/errors';
import {
  counterRegressed,
  decideCeremony,
  decidePasskeyPolicy,
  decidePasskeys,
  type CeremonyCommand,
  type PasskeysCommand,
  type SetPasskeyPolicy,
  type RegistrationProof,
  type SignInProof,
} from './decide';
import {
  CEREMONY_TTL_MS,
  MAX_PASSKEYS,
  evolveCeremony,
  evolvePasskeyPolicy,
  evolvePasskeys,
  initialCeremonyState,
  initialPasskeyPolicyState,
  initialPasskeysState,
  type AttestationPolicy,
  type CeremonyEvent,
  type PasskeyPolicyEvent,
  type PasskeyRefusal,
  type PasskeysEvent,
} from './passkey';

const ceremony = { decide: decideCeremony, evolve: evolveCeremony, initialState: initialCeremonyState };
const passkeys = { decide: decidePasskeys, evolve: evolvePasskeys, initialState: initialPasskeysState };

const policy = {
  decide: decidePasskeyPolicy,
  evolve: evolvePasskeyPolicy,
  initialState: initialPasskeyPolicyState,
};

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const DIGEST = 'c'.repeat(64);
const NONE: AttestationPolicy = { kind: 'none' };
const YUBIKEY = 'cb69481e-8ff7-4039-93ec-0a2729a154a8';

const issued = (purpose: 'registration' | 'sign_in'): CeremonyEvent => ({
  type: 'PasskeyChallengeIssued',
  data: {
    ceremonyId: 'c1',
    purpose,
    userId: purpose === 'registration' ? 'u1' : null,
    sessionId: purpose === 'registration' ? 's1' : null,
    challengeSha256: DIGEST,
    expiresAt: iso(T0 + CEREMONY_TTL_MS),
    at: iso(T0),
  },
});
const completed = (purpose: 'registration' | 'sign_in'): CeremonyEvent => ({
  type: 'PasskeyCeremonyCompleted',
  data: { ceremonyId: 'c1', purpose, userId: 'u1', passkeyId: 'k1', at: iso(T0 + 1000) },
});
const refusal = (
  purpose: 'registration' | 'sign_in',
  reason: PasskeyRefusal,
  who: { userId: string | null; passkeyId: string | null } = { userId: 'u1', passkeyId: 'k1' },
  at = T0 + 1000,
): CeremonyEvent[] => [
  { type: 'PasskeyCeremonyRefused', data: { ceremonyId: 'c1', purpose, reason, ...who, at: iso(at) } },
];

const attested: RegistrationProof = {
  verified: true,
  passkeyId: 'k1',
  aaguid: YUBIKEY,
  attestationFormat: 'packed',
  certified: true,
  userVerified: true,
};
const register = (
  proof: RegistrationProof = attested,
  options: { userId?: string; sessionId?: string; policy?: AttestationPolicy; now?: number } = {},
): CeremonyCommand => ({
  type: 'CompletePasskeyRegistration',
  data: {
    caller: { userId: options.userId ?? 'u1', sessionId: options.sessionId ?? 's1' },
    proof,
    policy: options.policy ?? NONE,
    now: options.now ?? T0 + 1000,
  },
});

const assertion: SignInProof = {
  verified: true,
  userId: 'u1',
  passkeyId: 'k1',
  storedCounter: 4,
  newCounter: 5,
  userVerified: true,
  userActive: true,
};
const signIn = (proof: Partial<SignInProof> = {}, now = T0 + 1000): CeremonyCommand => ({
  type: 'CompletePasskeySignIn',
  data: { proof: { ...assertion, ...proof } as SignInProof, now },
});

describe('a passkey ceremony', () => {
  it('issues a challenge once, kept as a digest with its expiry', () => {
    given(ceremony, [])
      .when({
        type: 'IssuePasskeyChallenge',
        data: {
          ceremonyId: 'c1',
          purpose: 'registration',
          userId: 'u1',
          sessionId: 's1',
          challengeSha256: DIGEST,
          ttlMs: CEREMONY_TTL_MS,
          now: T0,
        },
      })
      .then([issued('registration')]);
    given(ceremony, [issued('sign_in')])
      .when({
        type: 'IssuePasskeyChallenge',
        data: {
          ceremonyId: 'c1',
          purpose: 'sign_in',
          userId: null,
          sessionId: null,
          challengeSha256: DIGEST,
          ttlMs: CEREMONY_TTL_MS,
          now: T0,
        },
      })
      .thenThrows(PreconditionError);
  });

  it('refuses to finish a ceremony that was never started, recording nothing', () => {
    given(ceremony, [])
      .when(register())
      .thenThrows(UnauthenticatedError, /unknown/);
    given(ceremony, [])
      .when(signIn())
      .thenThrows(UnauthenticatedError, /unknown/);
  });
});

describe('when a registration ceremony is open', () => {
  const open = [issued('registration')];

  it('completes for the user and session that started it', () => {
    given(ceremony, open)
      .when(register())
      .then([completed('registration')]);
  });

  it('refuses another user, another session, or a late answer', () => {
    given(ceremony, open)
      .when(register(attested, { userId: 'u2' }))
      .then(refusal('registration', 'wrong_user', { userId: 'u2', passkeyId: 'k1' }));
    given(ceremony, open)
      .when(register(attested, { sessionId: 's2' }))
      .then(refusal('registration', 'wrong_session'));
    given(ceremony, open)
      .when(register(attested, { now: T0 + CEREMONY_TTL_MS }))
      .then(refusal('registration', 'expired', undefined, T0 + CEREMONY_TTL_MS));
  });

  it('refuses a response that did not verify, or without user verification', () => {
    given(ceremony, open)
      .when(register({ verified: false, reason: 'challenge_mismatch' }))
      .then(refusal('registration', 'challenge_mismatch', { userId: 'u1', passkeyId: null }));
    given(ceremony, open)
      .when(register({ ...attested, userVerified: false }))
      .then(refusal('registration', 'user_not_verified'));
  });

  it('refuses to be answered as a sign-in', () => {
    given(ceremony, open).when(signIn()).then(refusal('registration', 'wrong_purpose'));
  });

  describe('under a direct attestation policy', () => {
    const direct: AttestationPolicy = { kind: 'direct', allowedAaguids: [YUBIKEY.toUpperCase()] };

    it('accepts an attested authenticator whose AAGUID is allowed', () => {
      given(ceremony, open)
        .when(register(attested, { policy: direct }))
        .then([completed('registration')]);
    });

    it('refuses an unattested authenticator and one of another model', () => {
      given(ceremony, open)
        .when(register({ ...attested, attestationFormat: 'none' }, { policy: direct }))
        .then(refusal('registration', 'attestation_refused'));
      given(ceremony, open)
        .when(register({ ...attested, aaguid: '00000000-0000-0000-0000-000000000000' }, { policy: direct }))
        .then(refusal('registration', 'attestation_refused'));
    });

    it('refuses self attestation: the model it claims is vouched for by nobody', () => {
      given(ceremony, open)
        .when(register({ ...attested, certified: false }, { policy: direct }))
        .then(refusal('registration', 'attestation_refused'));
    });
  });
});

describe('when a ceremony has been answered', () => {
  it('refuses every further answer (single use), accepted or refused the first time', () => {
    given(ceremony, [issued('registration'), completed('registration')])
      .when(register())
      .then(refusal('registration', 'ceremony_used'));
    given(ceremony, [issued('sign_in'), completed('sign_in')])
      .when(signIn())
      .then(refusal('sign_in', 'ceremony_used'));
    given(ceremony, [issued('sign_in'), ...refusal('sign_in', 'challenge_mismatch')])
      .when(signIn())
      .then(refusal('sign_in', 'ceremony_used'));
  });
});

describe('when a sign-in ceremony is open', () => {
  const open = [issued('sign_in')];

  it('signs in with a verified assertion whose counter moved forward', () => {
    given(ceremony, open)
      .when(signIn())
      .then([completed('sign_in')]);
    given(ceremony, open)
      .when(signIn({ storedCounter: 0, newCounter: 0 }))
      .then([completed('sign_in')]);
  });

  it('refuses a counter that did not move forward: a cloned authenticator', () => {
    given(ceremony, open)
      .when(signIn({ storedCounter: 7, newCounter: 3 }))
      .then(refusal('sign_in', 'counter_regressed'));
    given(ceremony, open)
      .when(signIn({ storedCounter: 7, newCounter: 7 }))
      .then(refusal('sign_in', 'counter_regressed'));
  });

  it('requires user verification for passwordless sign-in', () => {
    given(ceremony, open)
      .when(signIn({ userVerified: false }))
      .then(refusal('sign_in', 'user_not_verified'));
  });

  it('refuses an inactive user, an unknown credential, and another challenge', () => {
    given(ceremony, open)
      .when(signIn({ userActive: false }))
      .then(refusal('sign_in', 'not_active'));
    given(ceremony, open)
      .when({
        type: 'CompletePasskeySignIn',
        data: {
          proof: { verified: false, reason: 'unknown_credential', userId: 'u2', passkeyId: 'k9' },
          now: T0 + 1000,
        },
      })
      .then(refusal('sign_in', 'unknown_credential', { userId: 'u2', passkeyId: 'k9' }));
    given(ceremony, open)
      .when({
        type: 'CompletePasskeySignIn',
        data: {
          proof: { verified: false, reason: 'challenge_mismatch', userId: 'u1', passkeyId: 'k1' },
          now: T0 + 1000,
        },
      })
      .then(refusal('sign_in', 'challenge_mismatch'));
  });

  it('refuses an answer after the ceremony expired', () => {
    const late = T0 + CEREMONY_TTL_MS + 1;
    given(ceremony, open)
      .when(signIn({}, late))
      .then(refusal('sign_in', 'expired', undefined, late));
  });

  it('refuses to be answered as a registration', () => {
    given(ceremony, open).when(register()).then(refusal('sign_in', 'wrong_purpose'));
  });
});

describe('counterRegressed', () => {
  it('lets authenticators without a counter (always 0) through, and nothing that goes back', () => {
    expect(counterRegressed(0, 0)).toBe(false);
    expect(counterRegressed(0, 1)).toBe(false);
    expect(counterRegressed(1, 0)).toBe(true);
    expect(counterRegressed(5, 5)).toBe(true);
  });
});

describe("a user's passkeys", () => {
  const registerCmd = (passkeyId = 'k1'): PasskeysCommand => ({
    type: 'RegisterPasskey',
    data: {
      userId: 'u1',
      passkeyId,
      publicKey: 'pk',
      counter: 0,
      transports: ['internal'],
      aaguid: YUBIKEY,
      attestationFormat: 'none',
      backedUp: false,
      displayName: 'Laptop',
      now: T0,
    },
  });
  const registered = (passkeyId = 'k1'): PasskeysEvent => {
    const { now, ...data } = registerCmd(passkeyId).data as Extract<
      PasskeysCommand,
      { type: 'RegisterPasskey' }
    >['data'];
    return { type: 'PasskeyRegistered', data: { ...data, at: iso(now) } };
  };

  it('registers a passkey once, and at most a handful', () => {
    given(passkeys, []).when(registerCmd()).then([registered()]);
    given(passkeys, [registered()]).when(registerCmd()).thenThrows(AlreadyExistsError);
    const many = Array.from({ length: MAX_PASSKEYS }, (_, i) => registered(`k${i}`));
    given(passkeys, many)
      .when(registerCmd('k-new'))
      .thenThrows(PreconditionError, /at most/);
  });

  it('records a sign-in and its counter; refuses a removed passkey or a counter another sign-in passed', () => {
    const used = (counter: number): PasskeysCommand => ({
      type: 'RecordPasskeySignIn',
      data: { userId: 'u1', passkeyId: 'k1', counter, sessionId: 's1', now: T0 + 5000 },
    });
    given(passkeys, [registered()])
      .when(used(1))
      .then([
        {
          type: 'PasskeySignedIn',
          data: { userId: 'u1', passkeyId: 'k1', counter: 1, sessionId: 's1', at: iso(T0 + 5000) },
        },
      ]);
    const after = given(passkeys, [registered()]).when(used(3)).result();
    given(passkeys, [registered(), ...after])
      .when(used(2))
      .thenThrows(PreconditionError, /meanwhile/);
    given(passkeys, [])
      .when(used(1))
      .thenThrows(PreconditionError, /removed/);
  });

  it('removes a passkey it has, and says who removed it', () => {
    const remove: PasskeysCommand = {
      type: 'RemovePasskey',
      data: { userId: 'u1', passkeyId: 'k1', by: 'admin', actorId: 'a1', now: T0 + 9000 },
    };
    given(passkeys, [registered()])
      .when(remove)
      .then([
        {
          type: 'PasskeyRemoved',
          data: { userId: 'u1', passkeyId: 'k1', by: 'admin', actorId: 'a1', at: iso(T0 + 9000) },
        },
      ]);
    given(passkeys, [registered(), ...given(passkeys, [registered()]).when(remove).result()])
      .when(remove)
      .thenThrows(NotFoundError);
  });
});

describe("the clinic's attestation policy", () => {
  const set = (attestation: string, allowedAaguids: string[] = []): SetPasskeyPolicy => ({
    type: 'SetPasskeyPolicy',
    data: { attestation, allowedAaguids, by: 'admin-1', now: T0 },
  });
  const directSet: PasskeyPolicyEvent = {
    type: 'PasskeyPolicySet',
    data: { attestation: 'direct', allowedAaguids: [YUBIKEY], by: 'admin-1', at: iso(T0) },
  };

  it('is set by an admin, AAGUIDs normalised, and setting it again to the same changes nothing', () => {
    given(policy, [])
      .when(set('direct', [` ${YUBIKEY.toUpperCase()} `, YUBIKEY]))
      .then([directSet]);
    given(policy, [directSet])
      .when(set('direct', [YUBIKEY]))
      .then([]);
    given(policy, [directSet])
      .when(set('none', [YUBIKEY]))
      .then([
        {
          type: 'PasskeyPolicySet',
          data: { attestation: 'none', allowedAaguids: [], by: 'admin-1', at: iso(T0) },
        },
      ]);
  });

  it('refuses direct without allowed models (it would refuse everyone), and anything malformed', () => {
    given(policy, []).when(set('direct')).thenThrows(ValidationError);
    given(policy, [])
      .when(set('direct', ['yubikey']))
      .thenThrows(ValidationError);
    given(policy, []).when(set('indirect')).thenThrows(ValidationError);
  });
});
