/**
 * Guest links: IssueGuestLink (the host who invited a guest without an account, session InviteGuest) returns the
 * token and the guest's own passcode once, storing only their hashes; RedeemGuestLink (public) trades them, once,
 * for a guest token bound to the visit. Wrong passcodes are counted and lock the link for good after five.
 * Whether the guest is still invited, and whether the visit ended, is read from the visit's own events.
 */
import { randomUUID } from 'node:crypto';
import {
  ConcurrencyError,
  PreconditionError,
  UnauthenticatedError,
  ValidationError,
  type FieldViolation,
} from '@haven/errors';
import type { scheduling } from '@haven/proto';
import {
  callMetadata,
  commandMetadata,
  handleCommand,
  requirePrincipal,
  RESOURCE_ID,
  type CallContext,
} from '@haven/service';
import type { SchedulingDeps } from '../deps';
import { LINK_NOT_VALID, wrongPasscodeRefusal } from '../appointment/link-policy';
import { hashPasscode, linkTokenHash, newLinkToken, newPasscode, verifyPasscode } from '../link/secrets';
import { indexedByToken, indexLinkToken } from '../link/token-index';
import { visitStream } from '../session-follower';
import { decideGuestLink, guestTokenExpiry, refuseGuestRedeem, type GuestLinkCommand } from './decide';
import {
  evolveGuestLink,
  GuestLinkEventType,
  guestVisitFacts,
  initialGuestLinkState,
  type GuestLinkEvent,
  type GuestLinkState,
  type GuestVisitFacts,
} from './guest-link';

export const GUEST_LINK_INDEXED = 'haven.scheduling.v1.GuestLinkIndexed';
const GUEST_TOKEN = /^g\.[A-Za-z0-9_-]{43}$/;

/** The guest link's own stream. */
export function guestLinkStream(guestId: string): string {
  return `scheduling.guest_link-${guestId}`;
}

/** The index stream of a guest link token: its hash → the guest. */
export function guestLinkIndexStream(tokenSha256: string): string {
  return `scheduling.guest_link_token-${tokenSha256}`;
}

async function facts(deps: SchedulingDeps, visitId: string): Promise<GuestVisitFacts> {
  const events = await deps.store.read(visitStream(visitId));
  return guestVisitFacts(events);
}

function run(
  deps: SchedulingDeps,
  guestId: string,
  command: GuestLinkCommand,
  metadata: Parameters<typeof handleCommand>[0]['metadata'],
) {
  return handleCommand<GuestLinkState, GuestLinkEvent, GuestLinkCommand>({
    store: deps.store,
    stream: guestLinkStream(guestId),
    decide: decideGuestLink,
    evolve: evolveGuestLink,
    initialState: initialGuestLinkState,
    command,
    metadata,
    now: deps.clock,
    maxRetries: 0,
  });
}

/** IssueGuestLink: the token and passcode, once; one link per guest. */
export function issueGuestLink(deps: SchedulingDeps) {
  return async (
    request: scheduling.IssueGuestLinkRequest,
    ctx: CallContext,
  ): Promise<scheduling.IssueGuestLinkResponse> => {
    const principal = requirePrincipal(ctx);
    const violations: FieldViolation[] = [];
    const visitId = /^visits\/([^/]+)$/.exec(request.visit)?.[1];
    const guestId = /^guests\/([^/]+)$/.exec(request.guest)?.[1];
    if (visitId === undefined || !RESOURCE_ID.test(visitId))
      violations.push({ field: 'visit', description: 'must be visits/{visit}' });
    if (guestId === undefined || !RESOURCE_ID.test(guestId))
      violations.push({ field: 'guest', description: 'must be guests/{guest}' });
    if (violations.length > 0 || visitId === undefined || guestId === undefined)
      throw new ValidationError(violations);
    const token = `g.${newLinkToken()}`;
    const passcode = newPasscode();
    const tokenSha256 = linkTokenHash(token);
    const metadata = commandMetadata(ctx);
    let result;
    try {
      result = await run(
        deps,
        guestId,
        {
          type: 'IssueGuestLink',
          data: {
            visitId,
            guest: request.guest,
            tokenSha256,
            passcodeHash: await hashPasscode(passcode),
            issuedBy: `users/${principal.id}`,
            facts: await facts(deps, visitId),
            now: deps.clock(),
          },
        },
        metadata,
      );
    } catch (error) {
      if (error instanceof ConcurrencyError)
        throw new PreconditionError('this guest already has a link; invite them again', { cause: error });
      throw error;
    }
    await indexLinkToken(
      deps,
      { stream: guestLinkIndexStream(tokenSha256), type: GUEST_LINK_INDEXED, data: { tokenSha256, guestId } },
      metadata,
    );
    const issued = result.state;
    if (issued.status === 'none') throw new Error('guest link vanished');
    deps.logger.info({ visitId, guestId }, 'guest link issued');
    return {
      guest: request.guest,
      token,
      passcode,
      url: `${deps.settings.publicUrl.replace(/\/+$/, '')}/join#${token}`,
      expireTime: new Date(issued.expiresAt),
    };
  };
}

/**
 * RedeemGuestLink (public): refuses a revoked, used, locked or expired link and an ended visit with a clear
 * FAILED_PRECONDITION; counts wrong passcodes and locks after five; on success records GuestLinkRedeemed and
 * returns a guest token (`kind: guest`, `visit`, `sid`).
 */
export function redeemGuestLink(deps: SchedulingDeps) {
  return async (
    request: scheduling.RedeemGuestLinkRequest,
    ctx: CallContext,
  ): Promise<scheduling.RedeemGuestLinkResponse> => {
    const violations: FieldViolation[] = [];
    if (request.token === '') violations.push({ field: 'token', description: 'is required' });
    if (request.passcode === '') violations.push({ field: 'passcode', description: 'is required' });
    if (violations.length > 0) throw new ValidationError(violations);
    if (!GUEST_TOKEN.test(request.token)) throw new UnauthenticatedError(LINK_NOT_VALID);
    const tokenSha256 = linkTokenHash(request.token);
    const guestId = await indexedByToken(deps, guestLinkIndexStream(tokenSha256), 'guestId');
    const events = await deps.store.read(guestLinkStream(guestId));
    const state = events.reduce<GuestLinkState>(evolveGuestLink, initialGuestLinkState);
    if (state.status === 'none') throw new UnauthenticatedError(LINK_NOT_VALID);
    const now = deps.clock();
    const visitFacts = await facts(deps, state.visitId);
    const expiresAt = guestTokenExpiry(visitFacts.endTime ?? state.expiresAt, now);
    const tokenId = randomUUID();
    const base = { tokenSha256, facts: visitFacts, now, tokenId, expiresAt };
    const target = `visits/${state.visitId}`;
    try {
      refuseGuestRedeem(state, { ...base, credentialsOk: true });
    } catch (error) {
      if (error instanceof PreconditionError)
        ctx.recordRefusal({ code: 'LINK_NOT_USABLE', reason: error.message, target });
      throw error;
    }
    const credentialsOk = await verifyPasscode(request.passcode, state.passcodeHash);
    const metadata = callMetadata(
      ctx,
      credentialsOk ? { kind: 'guest', id: guestId } : { kind: 'anonymous', id: 'guest-link' },
    );
    let result;
    try {
      result = await run(
        deps,
        guestId,
        { type: 'RedeemGuestLink', data: { ...base, credentialsOk } },
        metadata,
      );
    } catch (error) {
      // Two redemptions at once: the loser finds the link used (one device).
      if (error instanceof ConcurrencyError)
        throw new PreconditionError('this guest link was already used (one device)', { cause: error });
      throw error;
    }
    const event = result.events[0] as GuestLinkEvent | undefined;
    if (event?.type === GuestLinkEventType.PassCodeAttemptFailed) {
      const { attempt, locked } = event.data;
      deps.logger.warn({ guestId, attempt, locked }, 'wrong guest link passcode');
      const { code, reason, error } = wrongPasscodeRefusal(event.data, 'the clinician');
      ctx.recordRefusal({ code, reason, target, kind: 'unauthenticated' });
      throw error;
    }
    if (event?.type !== GuestLinkEventType.Redeemed) throw new Error('unexpected redeem outcome');
    const accessToken = await deps.patientTokens.sign(
      { subject: guestId, appointmentId: state.visitId, expiresAt, tokenId, kind: 'guest' },
      now,
    );
    deps.logger.info({ visitId: state.visitId, guestId }, 'guest link redeemed');
    return { accessToken, expireTime: expiresAt, visit: target, guest: `guests/${guestId}` };
  };
}
