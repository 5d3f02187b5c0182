/** The User aggregate as the event-store plumbing runs it (decide, evolve, initial state). */
import type { PureDecider } from '../shared/streams';
import { decideUser, type UserCommand } from './decide';
import { evolveUser, initialUserState, type UserEvent, type UserState } from './user';

export const userDecider: PureDecider<UserCommand, UserEvent, UserState> = {
  decide: decideUser,
  evolve: evolveUser,
  initialState: initialUserState,
};
