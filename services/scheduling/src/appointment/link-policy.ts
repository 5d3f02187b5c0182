/**
 * The patient link's rules (DESIGN.md §1, issue 5) and the passcode lockout every passcode-protected link shares
 * (the visit's patient link and the messages link of a "new message" notice): five wrong passcodes lock the link
 * for 15 minutes, each further lock twice as long, at most a day. Pure.
 */
import { PreconditionError } from '@haven/errors';

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
    throw new PreconditionError(
      `link locked, ask the clinic (too many wrong passcodes; locked until ${lock.lockedUntil})`,
    );
  }
}

/** One more wrong passcode at `now`: the link locks at {@link LinkPolicy.maxFailedAttempts}. */
export function passcodeFailure(lock: PasscodeLockState, now: Date): PasscodeFailure {
  const attempt = lock.failures + 1;
  const locked = attempt >= LinkPolicy.maxFailedAttempts;
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
