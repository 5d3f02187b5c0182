/** The Session aggregate as the event-store plumbing runs it (decide, evolve, initial state). */
import type { PureDecider } from '../shared/streams';
import { decideSession, type SessionCommand } from './decide';
import { evolveSession, initialSessionState, type SessionEvent, type SessionState } from './session';

export const sessionDecider: PureDecider<SessionCommand, SessionEvent, SessionState> = {
  decide: decideSession,
  evolve: evolveSession,
  initialState: initialSessionState,
};
