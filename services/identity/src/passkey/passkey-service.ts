/**
 * The passkey use cases: register a passkey (signed in), sign in with one (passwordless, user verification
 * required), list and remove one's passkeys, and an admin's removal (the reset of a lost passkey). The WebAuthn
 * checks are @simplewebauthn/server's; what they prove is decided in decide.ts. Nothing of a credential but its
 * id (and the public key, in the store) leaves this file; logs carry the ceremony id and the refusal reason.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { decodeAttestationObject } from '@simplewebauthn/server/helpers';
import { NotFoundError, PreconditionError, UnauthenticatedError, ValidationError } from '@haven/errors';
import { RevocationReason } from '@haven/service';
import type { LoginResult } from '../session/session-service';
import { endSessionsOf } from '../session/revoke';
import type { IdentityDeps } from '../shared/deps';
import { load, run, type CommandContext } from '../shared/streams';
import { loadUser } from '../user/user-stream';
import { isLocked } from '../user/user';
import {
  ceremonyDecider,
  passkeyPolicyDecider,
  passkeysDecider,
  type RegistrationProof,
  type SignInProof,
} from './decide';
import {
  CEREMONY_TTL_MS,
  CeremonyPurpose,
  PASSKEY_POLICY_STREAM,
  MAX_PASSKEYS,
  PasskeyRefusal,
  ceremonyStream,
  passkeysStream,
  type AttestationPolicy,
  type CeremonyEvent,
  type CeremonyState,
  type Passkey,
} from './passkey';
import type { WebAuthnSettings } from './settings';

/** What a caller sees of a passkey. */
export interface PasskeyView {
  readonly userId: string;
  readonly passkeyId: string;
  readonly displayName: string;
  readonly aaguid: string;
  readonly backedUp: boolean;
  readonly createdAt: number;
  readonly lastUsedAt: number | null;
}

/** A started ceremony: its id and the options for the browser (JSON). */
export interface StartedCeremony {
  readonly ceremonyId: string;
  readonly optionsJson: string;
}

/** Starts a session for a user whose passkey signed in (the session slice). */
export type StartPasskeySession = (ctx: CommandContext, userId: string, now: number) => Promise<LoginResult>;

const CEREMONY_ID = /^[A-Za-z0-9_-]{22}$/;
const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');
const toBase64Url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');

/**
 * What a browser's response must match: the challenge of its ceremony (kept as a SHA-256; nothing matches when
 * there is no such ceremony), one of the clinic's origins and the RP ID.
 */
function expectedBy(settings: WebAuthnSettings, ceremony: CeremonyState) {
  const challengeSha256 = ceremony.status === 'none' ? '' : ceremony.challengeSha256;
  return {
    expectedChallenge: (challenge: string) => sha256(challenge) === challengeSha256,
    expectedOrigin: [...settings.origins],
    expectedRPID: settings.rpId,
  };
}

/** The signed-in caller of a registration. */
export interface PasskeyCaller {
  readonly userId: string;
  readonly sessionId: string;
}

/** The passkey use cases. */
export class PasskeyService {
  constructor(
    private readonly deps: IdentityDeps,
    private readonly startSession: StartPasskeySession,
  ) {}

  private settings(): WebAuthnSettings {
    const settings = this.deps.policies.webAuthn;
    if (settings === null)
      throw new PreconditionError('passkeys are off: the public URL has no domain name to be the RP ID');
    return settings;
  }

  /**
   * Starts registering a passkey for the caller: a ceremony bound to the caller and their session.
   * Throws PreconditionError when passkeys are off, the user is not active or has the most passkeys.
   */
  async startRegistration(ctx: CommandContext, caller: PasskeyCaller): Promise<StartedCeremony> {
    const settings = this.settings();
    const { state: user } = await loadUser(this.deps.store, caller.userId);
    if (user.status !== 'active') throw new PreconditionError('user is not active');
    const { state } = await load(this.deps.store, passkeysStream(caller.userId), passkeysDecider);
    if (state.passkeys.length >= MAX_PASSKEYS)
      throw new PreconditionError(`at most ${MAX_PASSKEYS} passkeys; remove one first`);
    const options = await generateRegistrationOptions({
      rpName: settings.rpName,
      rpID: settings.rpId,
      userName: user.username,
      userDisplayName: user.displayName,
      userID: new TextEncoder().encode(caller.userId),
      challenge: randomBytes(32),
      timeout: CEREMONY_TTL_MS,
      attestationType: (await this.policy()).kind,
      excludeCredentials: state.passkeys.map((p) => ({ id: p.passkeyId, transports: [...p.transports] })),
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    });
    // The challenge as the browser gets it (base64url), kept only as a digest.
    const ceremonyId = await this.issue(ctx, CeremonyPurpose.Registration, options.challenge, caller);
    return { ceremonyId, optionsJson: JSON.stringify(options) };
  }

  /**
   * Finishes a registration. Throws UnauthenticatedError after recording the refusal (see decide.ts),
   * ValidationError when the response is not JSON, AlreadyExistsError when the passkey is registered already.
   */
  async finishRegistration(
    ctx: CommandContext,
    caller: PasskeyCaller,
    input: { ceremonyId: string; responseJson: string; displayName: string },
  ): Promise<PasskeyView> {
    const settings = this.settings();
    const response = parseResponse<RegistrationResponseJSON>(input.responseJson);
    const { state: ceremony } = await this.loadCeremony(input.ceremonyId);
    let proof: RegistrationProof = { verified: false, reason: PasskeyRefusal.InvalidResponse };
    let registration: Awaited<ReturnType<typeof verifyRegistrationResponse>>['registrationInfo'];
    try {
      const verified = await verifyRegistrationResponse({
        response,
        ...expectedBy(settings, ceremony),
        requireUserVerification: false, // decided in decide.ts, so that it is recorded
      });
      if (verified.verified) {
        registration = verified.registrationInfo;
        const statement = decodeAttestationObject(registration.attestationObject).get('attStmt');
        proof = {
          verified: true,
          passkeyId: registration.credential.id,
          aaguid: registration.aaguid,
          attestationFormat: registration.fmt,
          certified: (statement.get('x5c')?.length ?? 0) > 0,
          userVerified: registration.userVerified,
        };
      }
    } catch (error) {
      proof = { verified: false, reason: refusalOf(error) };
    }
    const now = this.deps.now();
    await this.close(ctx, input.ceremonyId, {
      type: 'CompletePasskeyRegistration',
      data: { caller, proof, policy: await this.policy(), now },
    });
    if (!registration) throw new UnauthenticatedError('passkey refused'); // unreachable: decide refused it
    const displayName = input.displayName.trim().slice(0, 100) || 'Passkey';
    const result = await run(
      this.deps.store,
      passkeysStream(caller.userId),
      passkeysDecider,
      {
        type: 'RegisterPasskey',
        data: {
          userId: caller.userId,
          passkeyId: registration.credential.id,
          publicKey: toBase64Url(registration.credential.publicKey),
          counter: registration.credential.counter,
          transports: [...(registration.credential.transports ?? [])],
          aaguid: registration.aaguid,
          attestationFormat: registration.fmt,
          backedUp: registration.credentialBackedUp,
          displayName,
          now,
        },
      },
      ctx,
    );
    const passkey = result.state.passkeys.find((p) => p.passkeyId === registration.credential.id);
    if (!passkey) throw new Error('the registered passkey is missing from its stream');
    this.deps.logger?.info({ userId: caller.userId, ceremonyId: input.ceremonyId }, 'passkey registered');
    return viewOf(caller.userId, passkey);
  }

  /** The clinic's attestation policy: the one an admin set, else the configured one. */
  async policy(): Promise<AttestationPolicy> {
    const { state } = await load(this.deps.store, PASSKEY_POLICY_STREAM, passkeyPolicyDecider);
    return state.policy ?? this.settings().attestation;
  }

  /** Sets the clinic's attestation policy (admin). Throws ValidationError (see decidePasskeyPolicy). */
  async setPolicy(
    ctx: CommandContext,
    input: { attestation: string; allowedAaguids: readonly string[] },
  ): Promise<AttestationPolicy> {
    this.settings();
    await run(
      this.deps.store,
      PASSKEY_POLICY_STREAM,
      passkeyPolicyDecider,
      { type: 'SetPasskeyPolicy', data: { ...input, by: ctx.actor.id, now: this.deps.now() } },
      ctx,
    );
    return this.policy();
  }

  /** A user's passkeys, oldest first. Throws NotFoundError for an unknown user. */
  async list(userId: string): Promise<PasskeyView[]> {
    const { state: user } = await loadUser(this.deps.store, userId);
    if (user.status === 'none') throw new NotFoundError('user not found');
    const { state } = await load(this.deps.store, passkeysStream(userId), passkeysDecider);
    return state.passkeys.map((p) => viewOf(userId, p));
  }

  /**
   * Removes a passkey. An admin's removal (`by: 'admin'`) is the reset of a lost passkey: the user's sessions end
   * too. Throws NotFoundError when the user has no such passkey.
   */
  async remove(
    ctx: CommandContext,
    input: { userId: string; passkeyId: string; by: 'self' | 'admin' },
  ): Promise<void> {
    const now = this.deps.now();
    await run(
      this.deps.store,
      passkeysStream(input.userId),
      passkeysDecider,
      { type: 'RemovePasskey', data: { ...input, actorId: ctx.actor.id, now } },
      ctx,
    );
    if (input.by === 'admin') {
      const { state } = await loadUser(this.deps.store, input.userId);
      await endSessionsOf(this.deps, ctx, state, RevocationReason.MfaReset);
    }
  }

  /** Starts a passwordless sign-in: any discoverable credential of this RP, user verification required. */
  async startSignIn(ctx: CommandContext): Promise<StartedCeremony> {
    const settings = this.settings();
    const options = await generateAuthenticationOptions({
      rpID: settings.rpId,
      challenge: randomBytes(32),
      timeout: CEREMONY_TTL_MS,
      userVerification: 'required',
    });
    const ceremonyId = await this.issue(ctx, CeremonyPurpose.SignIn, options.challenge, null);
    return { ceremonyId, optionsJson: JSON.stringify(options) };
  }

  /**
   * Finishes a passwordless sign-in: the session's tokens. Throws UnauthenticatedError after recording the refusal
   * (see decide.ts), ValidationError when the response is not JSON.
   */
  async finishSignIn(
    ctx: CommandContext,
    input: { ceremonyId: string; responseJson: string },
  ): Promise<LoginResult> {
    const response = parseResponse<AuthenticationResponseJSON>(input.responseJson);
    const proof = await this.verifyAssertion(input.ceremonyId, response);
    const now = this.deps.now();
    const userCtx: CommandContext =
      proof.userId === null ? ctx : { ...ctx, actor: { kind: 'user', id: proof.userId } };
    await this.close(userCtx, input.ceremonyId, { type: 'CompletePasskeySignIn', data: { proof, now } });
    if (!proof.verified) throw new UnauthenticatedError('passkey refused'); // unreachable: decide refused it
    const result = await this.startSession(userCtx, proof.userId, now);
    await run(
      this.deps.store,
      passkeysStream(proof.userId),
      passkeysDecider,
      {
        type: 'RecordPasskeySignIn',
        data: {
          userId: proof.userId,
          passkeyId: proof.passkeyId,
          counter: proof.newCounter,
          sessionId: result.sessionId,
          now,
        },
      },
      userCtx,
    );
    return result;
  }

  /** What the assertion proves: the user its user handle names, one of their passkeys, a valid signature. */
  private async verifyAssertion(
    ceremonyId: string,
    response: AuthenticationResponseJSON,
  ): Promise<SignInProof> {
    const settings = this.settings();
    const { state: ceremony } = await this.loadCeremony(ceremonyId);
    const passkeyId = typeof response.id === 'string' ? response.id.slice(0, 1024) : null;
    const userId = userIdOfHandle(response.response?.userHandle);
    const unverified = (reason: PasskeyRefusal): SignInProof => ({
      verified: false,
      reason,
      userId,
      passkeyId,
    });
    if (userId === null || passkeyId === null) return unverified(PasskeyRefusal.UnknownCredential);
    const { state } = await load(this.deps.store, passkeysStream(userId), passkeysDecider);
    const passkey = state.passkeys.find((p) => p.passkeyId === passkeyId);
    if (!passkey) return unverified(PasskeyRefusal.UnknownCredential);
    try {
      const verified = await verifyAuthenticationResponse({
        response,
        ...expectedBy(settings, ceremony),
        // The counter and user verification are decided in decide.ts (recorded); the library checks neither.
        credential: {
          id: passkey.passkeyId,
          publicKey: Buffer.from(passkey.publicKey, 'base64url'),
          counter: 0,
        },
        requireUserVerification: false,
      });
      if (!verified.verified) return unverified(PasskeyRefusal.InvalidResponse);
      const { state: user } = await loadUser(this.deps.store, userId);
      return {
        verified: true,
        userId,
        passkeyId,
        storedCounter: passkey.counter,
        newCounter: verified.authenticationInfo.newCounter,
        userVerified: verified.authenticationInfo.userVerified,
        userActive: user.status === 'active' && !isLocked(user, this.deps.now()),
      };
    } catch (error) {
      return unverified(refusalOf(error));
    }
  }

  private async issue(
    ctx: CommandContext,
    purpose: CeremonyPurpose,
    challenge: string,
    caller: PasskeyCaller | null,
  ): Promise<string> {
    const ceremonyId = randomBytes(16).toString('base64url');
    await run(
      this.deps.store,
      ceremonyStream(ceremonyId),
      ceremonyDecider,
      {
        type: 'IssuePasskeyChallenge',
        data: {
          ceremonyId,
          purpose,
          userId: caller?.userId ?? null,
          sessionId: caller?.sessionId ?? null,
          challengeSha256: sha256(challenge),
          ttlMs: CEREMONY_TTL_MS,
          now: this.deps.now(),
        },
      },
      ctx,
    );
    return ceremonyId;
  }

  private async loadCeremony(ceremonyId: string) {
    if (!CEREMONY_ID.test(ceremonyId))
      throw new ValidationError([{ field: 'ceremony', description: 'not a ceremony of this service' }]);
    return load(this.deps.store, ceremonyStream(ceremonyId), ceremonyDecider);
  }

  /** Closes a ceremony (single use: the append expects the state decided on). Refused: recorded, then thrown. */
  private async close(
    ctx: CommandContext,
    ceremonyId: string,
    command: Parameters<typeof ceremonyDecider.decide>[0],
  ): Promise<void> {
    const { events } = await run(this.deps.store, ceremonyStream(ceremonyId), ceremonyDecider, command, ctx);
    const refused = events.find(
      (e): e is Extract<CeremonyEvent, { type: 'PasskeyCeremonyRefused' }> =>
        e.type === 'PasskeyCeremonyRefused',
    );
    if (refused) {
      this.deps.logger?.warn(
        { ceremonyId, purpose: refused.data.purpose, reasonCode: refused.data.reason },
        'passkey refused',
      );
      throw new UnauthenticatedError('passkey refused');
    }
  }
}

function viewOf(userId: string, p: Passkey): PasskeyView {
  return {
    userId,
    passkeyId: p.passkeyId,
    displayName: p.displayName,
    aaguid: p.aaguid,
    backedUp: p.backedUp,
    createdAt: p.createdAt,
    lastUsedAt: p.lastUsedAt,
  };
}

function parseResponse<T>(json: string): T {
  try {
    const parsed: unknown = JSON.parse(json);
    if (typeof parsed === 'object' && parsed !== null && json.length <= 64 * 1024) return parsed as T;
  } catch {
    // answered below
  }
  throw new ValidationError([
    { field: 'response_json', description: 'must be the browser’s WebAuthn response' },
  ]);
}

/** The user id a user handle (base64url of the id's UTF-8 bytes) names, or null. */
function userIdOfHandle(handle: unknown): string | null {
  if (typeof handle !== 'string' || handle.length === 0 || handle.length > 128) return null;
  const id = Buffer.from(handle, 'base64url').toString('utf8');
  return /^[a-z0-9][a-z0-9-]{3,62}$/.test(id) ? id : null;
}

/** The refusal reason of a verification error (@simplewebauthn/server throws plain Errors). */
function refusalOf(error: unknown): PasskeyRefusal {
  const message = error instanceof Error ? error.message : '';
  if (/challenge/i.test(message)) return PasskeyRefusal.ChallengeMismatch;
  if (/origin|RP ID/i.test(message)) return PasskeyRefusal.OriginMismatch;
  return PasskeyRefusal.InvalidResponse;
}
