/**
 * Commands of a guest link: issue it (the host who invited the guest, once per guest) and redeem it (the guest,
 * once: one device). Pure: no I/O; the passcode check's result comes in the command.
 */
import { NotFoundError, PermissionError, PreconditionError, UnauthenticatedError } from '@haven/errors';
import {
  LINK_NOT_VALID,
  LinkPolicy,
  countPasscodeFailure,
  linkLockedError,
  linkTokenExpiry,
} from '../appointment/link-policy';
import {
  GuestLinkEventType,
  type GuestLinkEvent,
  type GuestLinkIssued,
  type GuestLinkState,
  type GuestVisitFacts,
} from './guest-link';

const MINUTE = 60_000;

export interface IssueGuestLink {
  readonly type: 'IssueGuestLink';
  readonly data: Omit<GuestLinkIssued['data'], 'role' | 'expiresAt'> & {
    readonly facts: GuestVisitFacts;
    readonly now: Date;
  };
}

export interface RedeemGuestLink {
  readonly type: 'RedeemGuestLink';
  readonly data: {
    readonly tokenSha256: string;
    readonly facts: GuestVisitFacts;
    readonly now: Date;
    readonly credentialsOk: boolean;
    readonly tokenId: string;
    readonly expiresAt: Date;
  };
}

export type GuestLinkCommand = IssueGuestLink | RedeemGuestLink;

/** When a guest token issued at `now` expires: as a patient token, 2 h at most and no later than end + 30 min. */
export function guestTokenExpiry(endTime: string, now: Date): Date {
  return linkTokenExpiry(endTime, now);
}

/** The refusals a redemption meets before its passcode is even checked. Throws; returns nothing. */
export function refuseGuestRedeem(state: GuestLinkState, data: RedeemGuestLink['data']): void {
  if (state.status === 'none' || state.tokenSha256 !== data.tokenSha256)
    throw new UnauthenticatedError(LINK_NOT_VALID);
  const { facts } = data;
  if (facts.ended) throw new PreconditionError('this visit has ended; the link no longer works');
  if (facts.invited[state.guest] === undefined)
    throw new PreconditionError('this guest link was revoked by the clinician');
  if (state.status === 'redeemed')
    throw new PreconditionError(
      'this guest link was already used (one device); ask the clinician for a new one',
    );
  if (state.locked) throw linkLockedError('the clinician');
  if (data.now.getTime() > Date.parse(state.expiresAt)) throw new PreconditionError('this link has expired');
}

/**
 * Decides a guest-link command. Throws PermissionError (not the host who invited that guest), NotFoundError (no
 * such invitation), PreconditionError (visit ended, guest revoked, link already issued or used, locked, expired),
 * UnauthenticatedError (unknown token).
 */
export function decideGuestLink(command: GuestLinkCommand, state: GuestLinkState): GuestLinkEvent[] {
  if (command.type === 'IssueGuestLink') {
    const { facts, now, ...data } = command.data;
    if (!facts.opened || facts.endTime === undefined)
      throw new NotFoundError(`visit ${data.visitId} not found`);
    if (facts.ended) throw new PreconditionError('the visit has ended');
    const invitation = facts.invited[data.guest];
    if (invitation === undefined) throw new NotFoundError(`guest ${data.guest} is not invited to this visit`);
    if (invitation.invitedBy !== data.issuedBy)
      throw new PermissionError('only the host who invited this guest may issue their link');
    if (state.status !== 'none')
      throw new PreconditionError('this guest already has a link; invite them again');
    const expiresAt = new Date(Date.parse(facts.endTime) + LinkPolicy.graceAfterEndMinutes * MINUTE);
    if (now.getTime() > expiresAt.getTime()) throw new PreconditionError('the visit is over');
    return [
      {
        type: GuestLinkEventType.Issued,
        data: { ...data, role: invitation.role, expiresAt: expiresAt.toISOString() },
      },
    ];
  }
  const data = command.data;
  refuseGuestRedeem(state, data);
  if (state.status === 'none') return [];
  if (!data.credentialsOk) {
    return [
      {
        type: GuestLinkEventType.PassCodeAttemptFailed,
        data: { guest: state.guest, ...countPasscodeFailure(state.failedAttempts) },
      },
    ];
  }
  return [
    {
      type: GuestLinkEventType.Redeemed,
      data: {
        guest: state.guest,
        visitId: state.visitId,
        tokenId: data.tokenId,
        expiresAt: data.expiresAt.toISOString(),
      },
    },
  ];
}
