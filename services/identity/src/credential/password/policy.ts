/**
 * Password policy: composition rules, a common/breached-password list, rotation. Pure.
 *
 * NIST SP 800-63B (§5.1.1.2) advises against composition rules and periodic rotation for
 * memorised secrets and for a breached-password check instead; HIPAA-covered practices often
 * still mandate both, so all of them are configurable: set `requireUpper` etc. to false and
 * `maxAgeDays` to null to follow 800-63B. The breached-list check is always on.
 */
import { ValidationError } from '@haven/errors';

/** Composition and rotation rules. */
export interface PasswordPolicy {
  readonly minLength: number;
  /** Upper bound so argon2 input stays bounded (NIST: at least 64). */
  readonly maxLength: number;
  readonly requireUpper: boolean;
  readonly requireLower: boolean;
  readonly requireDigit: boolean;
  readonly requireSymbol: boolean;
  /** Days after which a password must be changed at next login; null disables rotation. */
  readonly maxAgeDays: number | null;
  /** How many recent passwords may not be reused (current included). */
  readonly historySize: number;
}

/** The seed's default: ≥ 12 with upper, lower, digit and symbol; 90-day rotation; last 5 refused. */
export const DEFAULT_PASSWORD_POLICY: PasswordPolicy = Object.freeze({
  minLength: 12,
  maxLength: 128,
  requireUpper: true,
  requireLower: true,
  requireDigit: true,
  requireSymbol: true,
  maxAgeDays: 90,
  historySize: 5,
});

/** Machine-readable problem codes. */
export const PasswordProblemCode = {
  TooShort: 'too_short',
  TooLong: 'too_long',
  NoUpper: 'no_uppercase',
  NoLower: 'no_lowercase',
  NoDigit: 'no_digit',
  NoSymbol: 'no_symbol',
  Common: 'common_password',
  ContainsIdentity: 'contains_identity',
} as const;
export type PasswordProblemCode = (typeof PasswordProblemCode)[keyof typeof PasswordProblemCode];

/** One thing a password is missing or does wrong. */
export interface PasswordProblem {
  readonly code: PasswordProblemCode;
  readonly description: string;
}

export interface CheckPasswordOptions {
  readonly policy?: PasswordPolicy;
  /** Lower-cased common/breached passwords (see loadCommonPasswords). */
  readonly commonPasswords?: ReadonlySet<string>;
  /** Strings the password must not contain (the email's local part, the display name). */
  readonly identity?: readonly string[];
}

/**
 * Returns every problem with `password` under the policy; an empty list means it is acceptable.
 * Length counts Unicode code points.
 */
export function checkPassword(password: string, options: CheckPasswordOptions = {}): PasswordProblem[] {
  const policy = options.policy ?? DEFAULT_PASSWORD_POLICY;
  const problems: PasswordProblem[] = [];
  const length = [...password].length;
  if (length < policy.minLength) {
    problems.push({
      code: PasswordProblemCode.TooShort,
      description: `at least ${policy.minLength} characters (has ${length})`,
    });
  }
  if (length > policy.maxLength) {
    problems.push({
      code: PasswordProblemCode.TooLong,
      description: `at most ${policy.maxLength} characters`,
    });
  }
  if (policy.requireUpper && !/\p{Lu}/u.test(password)) {
    problems.push({ code: PasswordProblemCode.NoUpper, description: 'an uppercase letter' });
  }
  if (policy.requireLower && !/\p{Ll}/u.test(password)) {
    problems.push({ code: PasswordProblemCode.NoLower, description: 'a lowercase letter' });
  }
  if (policy.requireDigit && !/\p{Nd}/u.test(password)) {
    problems.push({ code: PasswordProblemCode.NoDigit, description: 'a digit' });
  }
  if (policy.requireSymbol && !/[^\p{L}\p{Nd}]/u.test(password)) {
    problems.push({ code: PasswordProblemCode.NoSymbol, description: 'a symbol (e.g. ! - # or a space)' });
  }
  const lower = password.toLowerCase();
  if (options.commonPasswords?.has(lower)) {
    problems.push({ code: PasswordProblemCode.Common, description: 'not a common or breached password' });
  }
  for (const part of options.identity ?? []) {
    const p = part.trim().toLowerCase();
    if (p.length >= 4 && lower.includes(p)) {
      problems.push({
        code: PasswordProblemCode.ContainsIdentity,
        description: 'not containing your name or email',
      });
      break;
    }
  }
  return problems;
}

/**
 * Throws ValidationError on `field` listing every problem (one violation each) when the password
 * is not acceptable; returns otherwise.
 */
export function assertPasswordAcceptable(
  password: string,
  field: string,
  options: CheckPasswordOptions = {},
): void {
  const problems = checkPassword(password, options);
  if (problems.length === 0) return;
  throw new ValidationError(
    problems.map((p) => ({ field, description: `${p.code}: needs ${p.description}` })),
    { message: `password rejected: needs ${problems.map((p) => p.description).join(', ')}` },
  );
}

/** True when a password set at `changedAt` (epoch ms) must be changed at `now` under the policy. */
export function passwordExpired(changedAt: number | null, now: number, policy: PasswordPolicy): boolean {
  if (policy.maxAgeDays === null || changedAt === null) return false;
  return now - changedAt >= policy.maxAgeDays * 86_400_000;
}

/** Parses the common-password file's text: one password a line, `#` comments, case-folded. */
export function parseCommonPasswords(text: string): Set<string> {
  const set = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const p = line.trim();
    if (p && !p.startsWith('#')) set.add(p.toLowerCase());
  }
  return set;
}
