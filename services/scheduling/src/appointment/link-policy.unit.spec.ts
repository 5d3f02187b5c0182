/**
 * The lockout every passcode-protected link shares (the patient link, the messages link, a guest link): what one
 * more wrong passcode counts, what it answers, and how long a link token lives.
 */
import { PreconditionError, UnauthenticatedError } from '@haven/errors';
import {
  LinkPolicy,
  countPasscodeFailure,
  linkTokenExpiry,
  passcodeFailure,
  wrongPasscodeRefusal,
} from './link-policy';

const NOW = new Date('2026-11-26T10:05:00.000Z');

describe('one more wrong passcode', () => {
  it('counts up and locks at the fifth, whether the lock ends (patient links) or not (guest links)', () => {
    expect([0, 3, 4].map(countPasscodeFailure)).toEqual([
      { attempt: 1, locked: false },
      { attempt: 4, locked: false },
      { attempt: 5, locked: true },
    ]);
    expect(passcodeFailure({ failures: 4, lockCount: 1 }, NOW)).toEqual({
      attempt: 5,
      locked: true,
      lockedUntil: '2026-11-26T10:35:00.000Z',
    });
  });

  it('answers with the attempts left, then sends the holder to whoever can issue a new link', () => {
    const wrong = wrongPasscodeRefusal({ attempt: 4, locked: false }, 'the clinic');
    expect(wrong.code).toBe('WRONG_PASSCODE');
    expect(wrong.error).toBeInstanceOf(UnauthenticatedError);
    expect(wrong.error.message).toBe('link or passcode not valid (1 attempt left)');
    expect(wrongPasscodeRefusal({ attempt: 2, locked: false }, 'the clinic').error.message).toMatch(
      /\(3 attempts left\)$/,
    );
    const locked = wrongPasscodeRefusal(
      { attempt: LinkPolicy.maxFailedAttempts, locked: true },
      'the clinician',
    );
    expect(locked.code).toBe('LINK_LOCKED');
    expect(locked.error).toBeInstanceOf(PreconditionError);
    expect(locked.error.message).toBe('link locked, ask the clinician (too many wrong passcodes)');
  });
});

describe('a link token', () => {
  it('lives two hours at most, and no longer than the grace after the visit’s end', () => {
    expect(linkTokenExpiry('2026-11-26T20:00:00.000Z', NOW).toISOString()).toBe('2026-11-26T12:05:00.000Z');
    expect(linkTokenExpiry('2026-11-26T10:30:00.000Z', NOW).toISOString()).toBe('2026-11-26T11:00:00.000Z');
    expect(linkTokenExpiry('2026-11-26T10:30:00.000Z', NOW, 5).toISOString()).toBe(
      '2026-11-26T10:35:00.000Z',
    );
  });
});
