/** A user's stream as the slices read and write it: {@link load} and {@link run} bound to the User aggregate. */
import type { EventStore } from '@haven/eventstore';
import { load, run, type CommandContext } from '../shared/streams';
import type { UserCommand } from './decide';
import { userDecider } from './decider';
import { userStream } from './user';

/** Loads a user (state and revision; status `none` for an unknown id). */
export function loadUser(store: EventStore, userId: string) {
  return load(store, userStream(userId), userDecider);
}

/** Load, decide, append on a user's stream (see {@link run}): the short-named events and the new state. */
export function runUser(store: EventStore, userId: string, command: UserCommand, ctx: CommandContext) {
  return run(store, userStream(userId), userDecider, command, ctx);
}
