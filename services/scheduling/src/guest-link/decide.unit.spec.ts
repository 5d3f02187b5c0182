import { NotFoundError, PermissionError, PreconditionError, UnauthenticatedError } from '@haven/errors';
import { given } from '@haven/testing';
import { decideGuestLink, guestTokenExpiry } from './decide';
import {
  evolveGuestLink,
  GuestLinkEventType,
  guestVisitFacts,
  initialGuestLinkState,
  type GuestLinkEvent,
  type GuestVisitFacts,
} from './guest-link';

const spec = { decide: decideGuestLink, evolve: evolveGuestLink, initialState: initialGuestLinkState };
const NOW = new Date('2026-11-26T10:05:00.000Z');
const END = '2026-11-26T10:30:00.000Z';
const session = (type: string, data: Record<string, unknown>) => ({ type: `haven.session.v1.${type}`, data });
const opened = session('VisitOpened', { visitId: 'v-1', endTime: END });
const invited = session('GuestInvited', {
  principal: 'guests/g1',
  role: 'family',
  invitedBy: 'users/clin-1',
});
const revoked = session('GuestRevoked', { principal: 'guests/g1', revokedBy: 'users/clin-1' });
const ended = session('VisitEnded', { visitId: 'v-1', reason: 'ended_by_clinician' });
const facts = (...events: { type: string; data: Record<string, unknown> }[]): GuestVisitFacts =>
  guestVisitFacts(events);
const issue = (f: GuestVisitFacts, issuedBy = 'users/clin-1', now = NOW) => ({
  type: 'IssueGuestLink' as const,
  data: {
    visitId: 'v-1',
    guest: 'guests/g1',
    tokenSha256: 'sha',
    passcodeHash: 'ph',
    issuedBy,
    facts: f,
    now,
  },
});
const issued: GuestLinkEvent = {
  type: GuestLinkEventType.Issued,
  data: {
    visitId: 'v-1',
    guest: 'guests/g1',
    role: 'family',
    tokenSha256: 'sha',
    passcodeHash: 'ph',
    expiresAt: '2026-11-26T11:00:00.000Z',
    issuedBy: 'users/clin-1',
  },
};
const redeem = (f: GuestVisitFacts, credentialsOk: boolean, tokenSha256 = 'sha', now = NOW) => ({
  type: 'RedeemGuestLink' as const,
  data: { tokenSha256, facts: f, now, credentialsOk, tokenId: 't-1', expiresAt: guestTokenExpiry(END, now) },
});
const failed = (attempt: number, locked = false): GuestLinkEvent => ({
  type: GuestLinkEventType.PassCodeAttemptFailed,
  data: { guest: 'guests/g1', attempt, locked },
});
const live = facts(opened, invited);

describe('when a host asks for a guest link', () => {
  it('issues one for the guest they invited, expiring 30 minutes after the visit’s end', () =>
    given(spec, []).when(issue(live)).then([issued]));
  it('refuses a host who did not invite that guest', () =>
    given(spec, []).when(issue(live, 'users/clin-2')).thenThrows(PermissionError));
  it('refuses a guest nobody invited, or one revoked', () => {
    given(spec, [])
      .when(issue(facts(opened)))
      .thenThrows(NotFoundError);
    given(spec, [])
      .when(issue(facts(opened, invited, revoked)))
      .thenThrows(NotFoundError);
  });
  it('refuses an ended visit and a second link for the same guest', () => {
    given(spec, [])
      .when(issue(facts(opened, invited, ended)))
      .thenThrows(PreconditionError, /ended/);
    given(spec, [issued])
      .when(issue(live))
      .thenThrows(PreconditionError, /already has a link/);
  });
});

describe('when the guest redeems their link', () => {
  it('gives a token once, with the right passcode', () =>
    given(spec, [issued])
      .when(redeem(live, true))
      .then([
        {
          type: GuestLinkEventType.Redeemed,
          data: { guest: 'guests/g1', visitId: 'v-1', tokenId: 't-1', expiresAt: '2026-11-26T11:00:00.000Z' },
        },
      ]));
  it('refuses a second device: the link was used', () =>
    given(spec, [
      issued,
      {
        type: GuestLinkEventType.Redeemed,
        data: { guest: 'guests/g1', visitId: 'v-1', tokenId: 't-1', expiresAt: END },
      },
    ])
      .when(redeem(live, true))
      .thenThrows(PreconditionError, /already used/));
  it('counts wrong passcodes and locks for good after five', () => {
    given(spec, [issued])
      .when(redeem(live, false))
      .then([failed(1)]);
    given(spec, [issued, failed(1), failed(2), failed(3)])
      .when(redeem(live, false))
      .then([failed(4)]);
    given(spec, [issued, failed(1), failed(2), failed(3), failed(4)])
      .when(redeem(live, false))
      .then([failed(5, true)]);
    given(spec, [issued, failed(1), failed(2), failed(3), failed(4), failed(5, true)])
      .when(redeem(live, true))
      .thenThrows(PreconditionError, /locked/);
  });
  it('refuses a revoked guest, an ended visit, an expired link and another token', () => {
    given(spec, [issued])
      .when(redeem(facts(opened, invited, revoked), true))
      .thenThrows(PreconditionError, /revoked/);
    given(spec, [issued])
      .when(redeem(facts(opened, invited, ended), true))
      .thenThrows(PreconditionError, /ended/);
    given(spec, [issued])
      .when(redeem(live, true, 'sha', new Date('2026-11-26T11:00:01.000Z')))
      .thenThrows(PreconditionError, /expired/);
    given(spec, [issued])
      .when(redeem(live, true, 'other'))
      .thenThrows(UnauthenticatedError);
  });
  it('gives a token that ends with the visit (2 h at most)', () => {
    expect(guestTokenExpiry(END, NOW).toISOString()).toBe('2026-11-26T11:00:00.000Z');
    expect(guestTokenExpiry('2026-11-26T20:00:00.000Z', NOW).toISOString()).toBe('2026-11-26T12:05:00.000Z');
  });
});
