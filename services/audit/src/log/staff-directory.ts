/**
 * Staff display names, from identity's `UserInvited` events (names of staff are not PHI): so a patient's access
 * log can say who looked at their record. Rebuilt at every start by reading the identity context from the
 * beginning; kept in memory (one entry per staff user).
 */
import type { EventStore, Subscription } from '@haven/eventstore';

const USER_INVITED = 'haven.identity.v1.UserInvited';

export class StaffDirectory {
  private readonly names = new Map<string, string>();

  /** Learns from one event; ignores everything but a well-formed `UserInvited`. */
  apply(event: { readonly type: string; readonly data: Record<string, unknown> }): void {
    if (event.type !== USER_INVITED) return;
    const { userId, displayName } = event.data;
    if (typeof userId === 'string' && typeof displayName === 'string' && displayName.trim() !== '') {
      this.names.set(userId, displayName.trim());
    }
  }

  /** The display name of a staff user, or '' when unknown. */
  nameOf(userId: string): string {
    return this.names.get(userId) ?? '';
  }

  /** Follows the identity context from its start (then live). Throws UnavailableError when the store fails. */
  async follow(store: EventStore, onError: (error: unknown) => void): Promise<Subscription> {
    return await store.subscribe({
      from: 'start',
      contexts: ['identity'],
      handler: async (event) => {
        this.apply(event);
        return Promise.resolve();
      },
      onError,
    });
  }
}
