/** Whether a user holds a passkey (the session slice asks before accepting a password alone). */
import type { EventStore } from '@haven/eventstore';
import { load } from '../shared/streams';
import { passkeysDecider } from './decide';
import { passkeysStream } from './passkey';

/** True when the user has at least one registered passkey. Rejects when the store does. */
export async function hasPasskeys(store: EventStore, userId: string): Promise<boolean> {
  const { state } = await load(store, passkeysStream(userId), passkeysDecider);
  return state.passkeys.length > 0;
}
