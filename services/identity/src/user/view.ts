/** What a caller sees of a user, read from the User aggregate (no secrets). */
import type { EventStore } from '@haven/eventstore';
import { NotFoundError } from '@haven/errors';
import { loadUser } from './user-stream';
import { isLocked, type Role, type UserState } from './user';

/** What the caller sees of a user (no secrets). */
export interface UserView {
  readonly userId: string;
  readonly username: string;
  readonly email: string;
  readonly displayName: string;
  readonly role: Role;
  readonly status: 'invited' | 'active' | 'locked' | 'deactivated';
  readonly mfaEnrolled: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly passwordChangedAt: number | null;
  readonly lastLoginAt: number | null;
  /** The stream revision, for optimistic concurrency. */
  readonly etag: string;
}

/**
 * The view of `state`; its etag is `loadedAt`, the revision `state` was loaded at, or else read from the stream.
 * Throws NotFoundError when there is no user.
 */
export async function userView(
  deps: { readonly store: EventStore; readonly now: () => number },
  userId: string,
  state: UserState,
  loadedAt?: bigint | 'no_stream',
): Promise<UserView> {
  if (state.status === 'none') throw new NotFoundError('user not found');
  const revision = loadedAt ?? (await loadUser(deps.store, userId)).revision;
  return {
    userId: state.userId,
    username: state.username,
    email: state.email,
    displayName: state.displayName,
    role: state.role,
    status: state.status === 'active' && isLocked(state, deps.now()) ? 'locked' : state.status,
    mfaEnrolled: state.mfa === 'totp',
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    passwordChangedAt: state.passwordChangedAt,
    lastLoginAt: state.lastLoginAt,
    etag: String(revision),
  };
}

/** The parts of a user's name and email a password may not contain. */
export function identityParts(state: UserState | { email: string; displayName: string }): string[] {
  if ('status' in state && state.status === 'none') return [];
  if (!('email' in state)) return [];
  const local = state.email.split('@')[0] ?? '';
  return [local, ...state.displayName.split(/\s+/)].filter((p) => p.length >= 4);
}
