import { PreconditionError } from '@haven/errors';
import { given } from '@haven/testing';
import { LinkPolicy } from '../appointment/link-policy';
import {
  decideMessagesLink,
  evolveMessagesLink,
  initialMessagesLinkState,
  MessagesLinkEventType,
  type MessagesLinkCommand,
  type MessagesLinkEvent,
} from './messages-link';

const spec = {
  decide: decideMessagesLink,
  evolve: evolveMessagesLink,
  initialState: initialMessagesLinkState,
};
const now = new Date('2026-12-07T09:00:00Z');
const at = (minutes: number) => new Date(now.getTime() + minutes * 60_000);
const issued: MessagesLinkEvent = {
  type: MessagesLinkEventType.Issued,
  data: {
    linkId: 'ml-1',
    patientId: 'pat-1',
    tokenSha256: 'ab'.repeat(32),
    issuedAt: now.toISOString(),
    expiresAt: at(7 * 24 * 60).toISOString(),
  },
};
const redeem = (credentialsOk: boolean, when = at(1)): MessagesLinkCommand => ({
  type: 'RedeemMessagesLink',
  data: { credentialsOk, now: when, tokenId: 'tok-1', tokenExpiresAt: at(31) },
});
const failed = (attempt: number, lockedUntil?: string): MessagesLinkEvent => ({
  type: MessagesLinkEventType.PasscodeFailed,
  data: {
    linkId: 'ml-1',
    attempt,
    locked: lockedUntil !== undefined,
    ...(lockedUntil ? { lockedUntil } : {}),
  },
});
const redeemed: MessagesLinkEvent = {
  type: MessagesLinkEventType.Redeemed,
  data: { linkId: 'ml-1', patientPrincipalId: 'pat-1', tokenId: 'tok-0', expiresAt: at(30).toISOString() },
};
const fourFailures = [1, 2, 3, 4].map((n) => failed(n));

describe('when a messages link was issued', () => {
  it('redeems with the right passcode for a 30-minute messages token', () =>
    given(spec, [issued])
      .when(redeem(true))
      .then([
        {
          type: MessagesLinkEventType.Redeemed,
          data: {
            linkId: 'ml-1',
            patientPrincipalId: 'pat-1',
            tokenId: 'tok-1',
            expiresAt: at(31).toISOString(),
          },
        },
      ]));
  it('counts a wrong passcode', () =>
    given(spec, [issued])
      .when(redeem(false))
      .then([failed(1)]));
  it('refuses it once expired', () =>
    given(spec, [issued])
      .when(redeem(true, at(7 * 24 * 60 + 1)))
      .thenThrows(PreconditionError, /expired/));
});

describe('when four wrong passcodes were tried', () => {
  it(`locks at the ${LinkPolicy.maxFailedAttempts}th for the patient link's first lock`, () =>
    given(spec, [issued, ...fourFailures])
      .when(redeem(false))
      .then([failed(5, at(1 + LinkPolicy.lockBaseMinutes).toISOString())]));
  it('starts again after a good passcode', () =>
    given(spec, [issued, ...fourFailures, redeemed])
      .when(redeem(false))
      .then([failed(1)]));
});

describe('when the link is locked', () => {
  const lock = failed(5, at(16).toISOString());
  it('refuses even the right passcode until the lock ends', () =>
    given(spec, [issued, ...fourFailures, lock])
      .when(redeem(true, at(10)))
      .thenThrows(PreconditionError, /locked until/));
  it('works again after it, and the next lock is twice as long', () => {
    given(spec, [issued, ...fourFailures, lock])
      .when(redeem(true, at(17)))
      .then([expect.objectContaining({ type: MessagesLinkEventType.Redeemed }) as never]);
    given(spec, [issued, ...fourFailures, lock, ...fourFailures])
      .when(redeem(false, at(17)))
      .then([failed(5, at(17 + 2 * LinkPolicy.lockBaseMinutes).toISOString())]);
  });
});
