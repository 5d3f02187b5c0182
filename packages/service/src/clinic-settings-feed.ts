/**
 * Follows the clinic's settings (see clinic-settings.ts): the stream is read once at start, then the scheduling
 * context is followed from there (in memory, self-healing after a NATS outage), so a change applies within
 * moments and without a call to scheduling on the hot path (a visit can be recorded while scheduling restarts).
 */
import {
  followStore,
  type Checkpoint,
  type ConsumerHealth,
  type EventStore,
  type Follower,
} from '@haven/eventstore';
import type { Logger } from './logger';
import {
  CLINIC_SETTINGS_STREAM,
  clinicSettingsInForce,
  evolveClinicSettings,
  type ClinicSettingValues,
  type ClinicSettings,
  type SavedClinicSettings,
} from './clinic-settings';

/** The settings a service follows (see {@link followClinicSettings}). */
export interface ClinicSettingsFeed {
  /** The settings in force now. */
  current(): ClinicSettings;
  /** Resolves once every change stored when it was called is folded (tests, readiness). */
  caughtUp(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@link followClinicSettings}. */
export interface FollowClinicSettingsOptions {
  /** The consumer's name in health and logs (`session.clinic-settings`). */
  readonly name: string;
  /** The deployment's defaults (the service's environment). */
  readonly defaults: ClinicSettingValues;
  readonly health?: ConsumerHealth;
  readonly logger?: Logger;
}

/**
 * Reads the clinic's settings and follows their changes. Throws UnavailableError when the store cannot be read
 * at start (the service then fails to boot, as it does without its other streams).
 */
export async function followClinicSettings(
  store: Pick<EventStore, 'read' | 'subscribe' | 'head'>,
  options: FollowClinicSettingsOptions,
): Promise<ClinicSettingsFeed> {
  // The head first, then the stream: a change stored in between is folded twice, in order, which is harmless.
  const from: Checkpoint = (await store.head({ after: 'start', contexts: ['scheduling'] })).position;
  let saved: SavedClinicSettings = {};
  let revision = -1n;
  const fold = (event: { revision: bigint; type: string; data: unknown; occurredAt?: string }) => {
    if (event.revision <= revision) return;
    revision = event.revision;
    saved = evolveClinicSettings(saved, event);
  };
  for (const event of await store.read(CLINIC_SETTINGS_STREAM)) fold(event);
  const follower: Follower = await followStore(store, {
    name: options.name,
    from,
    contexts: ['scheduling'],
    ...(options.health ? { health: options.health } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    handler: (event) => {
      if (event.stream === CLINIC_SETTINGS_STREAM) {
        fold(event);
        options.logger?.info({ consumer: options.name }, 'clinic settings changed');
      }
      return Promise.resolve();
    },
  });
  return {
    current: () => clinicSettingsInForce(saved, options.defaults),
    caughtUp: (timeoutMs = 10_000) => follower.caughtUp(timeoutMs),
    close: () => follower.close(),
  };
}
