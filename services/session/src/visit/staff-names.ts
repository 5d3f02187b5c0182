/**
 * Staff display names for a visit's participants ("Dr. Amara Okafor"), read from identity's user streams
 * (`identity.user-<id>`, events the session service may read like any other; scheduling's reminders read the same
 * ones). Staff names are not PHI. Patients' and link guests' names are never looked up: the session service
 * holds no patient names, and a visit read shows a patient by role only (ADR 0016).
 */
import type { EventStore } from '@haven/eventstore';

/** How long a name is kept before it is read again (a renamed user shows the new name within this). */
const TTL_MS = 60_000;

/** Display names of staff users by principal (`users/<id>`), cached for a minute. */
export class StaffNames {
  readonly #cache = new Map<string, { name: string; at: number }>();

  constructor(
    private readonly store: Pick<EventStore, 'read'>,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The names of the staff principals among `principals` ('' for none known); never throws (a name is a nicety). */
  async of(principals: Iterable<string>): Promise<ReadonlyMap<string, string>> {
    const out = new Map<string, string>();
    for (const principal of new Set(principals)) {
      if (!principal.startsWith('users/')) continue;
      const name = await this.#name(principal.slice('users/'.length));
      if (name) out.set(principal, name);
    }
    return out;
  }

  async #name(userId: string): Promise<string> {
    const cached = this.#cache.get(userId);
    const now = this.clock();
    if (cached && now - cached.at < TTL_MS) return cached.name;
    let name = '';
    try {
      for (const e of await this.store.read(`identity.user-${userId}`)) {
        const d = e.data['displayName'];
        if (typeof d === 'string' && d !== '') name = d;
      }
    } catch {
      return cached?.name ?? '';
    }
    this.#cache.set(userId, { name, at: now });
    return name;
  }
}
