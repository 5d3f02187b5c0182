/** The signed-in staff member, shared by the screens: who they are, and how a screen ends the session. */
import { createContext, useContext } from 'react';
import { ApiError } from '../api/client';
import type { Me } from './types';

/** What every signed-in screen can use. */
export interface StaffSession {
  readonly me: Me;
  /** The session is over (`idle`, `revoked`, …): back to the sign-in screen with a notice. */
  signedOut(reason: string): void;
}

export const SessionContext = createContext<StaffSession | null>(null);

/** The signed-in session (only under the home screen). */
export function useSession(): StaffSession {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside the signed-in screens');
  return s;
}

/**
 * Runs an API call for a screen; a 401 that survived the token refresh means the session is over (signed out,
 * resolves undefined); any other failure goes to `onError` (resolves undefined).
 */
export async function guarded<T>(
  session: StaffSession,
  fn: () => Promise<T>,
  onError?: (message: string) => void,
): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      session.signedOut('revoked');
      return undefined;
    }
    onError?.(err instanceof Error ? err.message : String(err));
    return undefined;
  }
}
