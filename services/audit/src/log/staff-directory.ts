/**
 * Staff display names, from identity's `UserInvited` and `UserProvisioned` (SSO) events (names of staff are not PHI): so a patient's access
 * log can say who looked at their record. Rebuilt at every start by reading the identity context from the
 * beginning; kept in memory (one entry per staff user).
 */
import {
  followStore,
  type ConsumerHealth,
  type EventStore,
  type FollowerLogger,
  type Subscription,
} from '@haven/eventstore';

const USER_CREATED: ReadonlySet<string> = new Set([
  'haven.identity.v1.UserInvited',
  'haven.identity.v1.UserProvisioned',
]);

export class StaffDirectory {
  private readonly names = new Map<string, string>();

  /** Learns from one event; ignores everything but a well-formed `UserInvited` or `UserProvisioned`. */
  apply(event: { readonly type: string; readonly data: Record<string, unknown> }): void {
    if (!USER_CREATED.has(event.type)) return;
    const { userId, displayName } = event.data;
    if (typeof userId === 'string' && typeof displayName === 'string' && displayName.trim() !== '') {
      this.names.set(userId, displayName.trim());
    }
  }

  /** The display name of a staff user, or '' when unknown. */
  nameOf(userId: string): string {
    return this.names.get(userId) ?? '';
  }

  /**
   * Follows the identity context from its start, then live (consumer `audit.staff-directory`, self-healing,
   * reported to `health`). Resolves once the first subscription attempt was made.
   */
  async follow(
    store: Pick<EventStore, 'subscribe' | 'head'>,
    options: { health?: ConsumerHealth; logger?: FollowerLogger } = {},
  ): Promise<Subscription> {
    return await followStore(store, {
      name: 'audit.staff-directory',
      from: 'start',
      contexts: ['identity'],
      ...options,
      handler: async (event) => {
        this.apply(event);
        return Promise.resolve();
      },
    });
  }
}
