/**
 * The patient link's rules (DESIGN.md §1, issue 5) and the passcode lockout every passcode-protected link shares
 * (the visit's patient link, the messages link of a "new message" notice, a visit guest's link): five wrong
 * passcodes lock the link — the patient's links for 15 minutes, each further lock twice as long, at most a day;
 * a guest link for good (the host invites again). Pure.
 */
import { PreconditionError, UnauthenticatedError } from '@haven/errors';

const MINUTE = 60_000;

/** Link rules (DESIGN.md §1, issue 5). */
export const LinkPolicy = {
  /** The link opens this long before the start. */
  opensBeforeStartMinutes: 15,
  /** …and closes this long after the end. */
  graceAfterEndMinutes: 30,
  /** Failed passcode attempts before the link locks. */
  maxFailedAttempts: 5,
  /** First lock; each further lock doubles it. */
  lockBaseMinutes: 15,
  /** Longest lock. */
  lockMaxMinutes: 24 * 60,
  /** Longest patient token. */
  patientTokenMaxMinutes: 120,
  /** A link signs in to the patient's secure messages until this long after the appointment's end. */
  messagesAfterEndDays: 30,
  /** Longest patient token for the secure messages. */
  messagesTokenMinutes: 30,
  /** A messages link (the one a "new message" notice carries) signs in for this long after it is issued. */
  messagesLinkDays: 7,
} as const;

/** What an unknown link, or a wrong passcode, is told (never which of the two). */
export const LINK_NOT_VALID = 'link or passcode not valid';

/** Who a locked link's holder is sent to: the clinic (a patient's links) or the clinician (a guest link). */
export type LinkHelp = 'the clinic' | 'the clinician';

/**
 * When a link token issued at `now` expires: {@link LinkPolicy.patientTokenMaxMinutes} at most, and no later
 * than `graceMinutes` after the visit's end.
 */
export function linkTokenExpiry(
  endTime: string,
  now: Date,
  graceMinutes: number = LinkPolicy.graceAfterEndMinutes,
): Date {
  return new Date(
    Math.min(
      now.getTime() + LinkPolicy.patientTokenMaxMinutes * MINUTE,
      Date.parse(endTime) + graceMinutes * MINUTE,
    ),
  );
}

/** Length of the n-th lock (n ≥ 1): 15 min, 30 min, 60 min, … capped at a day. */
export function lockMinutes(n: number): number {
  return Math.min(LinkPolicy.lockBaseMinutes * 2 ** Math.max(0, n - 1), LinkPolicy.lockMaxMinutes);
}

/** The lockout state of a link protected by a passcode (the patient link, the messages link). */
export interface PasscodeLockState {
  /** Failed attempts since the link was issued, last locked or redeemed. */
  readonly failures: number;
  /** How many times the link has been locked (the lock doubles each time). */
  readonly lockCount: number;
  readonly lockedUntil?: string;
}

/** What one more wrong passcode does: its attempt number, and whether (and until when) it locks the link. */
export interface PasscodeFailure {
  readonly attempt: number;
  readonly locked: boolean;
  readonly lockedUntil?: string;
}

/** Throws PreconditionError while `lock` is locked at `now`. */
export function refuseWhileLocked(lock: PasscodeLockState, now: Date): void {
  if (lock.lockedUntil !== undefined && now.getTime() < Date.parse(lock.lockedUntil)) {
    throw linkLockedError('the clinic', lock.lockedUntil);
  }
}

/** The error a locked link answers, sending its holder to `help`. */
export function linkLockedError(help: LinkHelp, until?: string): PreconditionError {
  const why =
    until === undefined ? 'too many wrong passcodes' : `too many wrong passcodes; locked until ${until}`;
  return new PreconditionError(`link locked, ask ${help} (${why})`);
}

/**
 * One more wrong passcode after `failures`: its attempt number, and whether it locks the link (at
 * {@link LinkPolicy.maxFailedAttempts}). A guest link's lock is this, for good.
 */
export function countPasscodeFailure(failures: number): {
  readonly attempt: number;
  readonly locked: boolean;
} {
  const attempt = failures + 1;
  return { attempt, locked: attempt >= LinkPolicy.maxFailedAttempts };
}

/**
 * What a recorded wrong passcode answers, and the refusal it records: once it locked the link a PreconditionError
 * sending the holder to `help` (LINK_LOCKED), else an UnauthenticatedError saying how many attempts are left
 * (WRONG_PASSCODE).
 */
export function wrongPasscodeRefusal(
  failure: { readonly attempt: number; readonly locked: boolean },
  help: LinkHelp,
): {
  readonly code: 'LINK_LOCKED' | 'WRONG_PASSCODE';
  readonly reason: string;
  readonly error: PreconditionError | UnauthenticatedError;
} {
  if (failure.locked) {
    return { code: 'LINK_LOCKED', reason: 'too many wrong passcodes', error: linkLockedError(help) };
  }
  const left = LinkPolicy.maxFailedAttempts - failure.attempt;
  const error = new UnauthenticatedError(`${LINK_NOT_VALID} (${left} attempt${left === 1 ? '' : 's'} left)`);
  return { code: 'WRONG_PASSCODE', reason: 'wrong passcode', error };
}

/** One more wrong passcode at `now`: the link locks at {@link LinkPolicy.maxFailedAttempts}. */
export function passcodeFailure(lock: PasscodeLockState, now: Date): PasscodeFailure {
  const { attempt, locked } = countPasscodeFailure(lock.failures);
  const until = new Date(now.getTime() + lockMinutes(lock.lockCount + 1) * MINUTE);
  return { attempt, locked, ...(locked ? { lockedUntil: until.toISOString() } : {}) };
}

/** The lock state after a recorded failure (a lock starts a new count) or, without one, a redemption. */
export function afterPasscodeAttempt<L extends PasscodeLockState>(lock: L, failure?: PasscodeFailure): L {
  if (!failure) return { ...lock, failures: 0 };
  if (!failure.locked) return { ...lock, failures: failure.attempt };
  const { lockedUntil: _previous, ...rest } = lock;
  return {
    ...rest,
    failures: 0,
    lockCount: lock.lockCount + 1,
    ...(failure.lockedUntil !== undefined ? { lockedUntil: failure.lockedUntil } : {}),
  } as L;
}
