import { ValidationError } from '@haven/errors';
import type { EventStore } from './port';
import { JetStreamEventStore, type JetStreamConnectOptions } from './jetstream';
import { KurrentDbEventStore } from './kurrentdb';

/** Which adapter to use and how to reach it (HAVEN_EVENT_STORE selects `kind`). */
export type EventStoreConfig =
  | ({ readonly kind: 'jetstream' } & JetStreamConnectOptions)
  | { readonly kind: 'kurrentdb'; readonly connectionString: string };

/**
 * Opens the configured event store adapter. Throws ValidationError on an unknown kind, UnavailableError
 * when the server cannot be reached.
 */
export async function createEventStore(config: EventStoreConfig): Promise<EventStore> {
  switch (config.kind) {
    case 'jetstream':
      return await JetStreamEventStore.connect(config);
    case 'kurrentdb':
      return await KurrentDbEventStore.connect({ connectionString: config.connectionString });
    default: {
      const kind: unknown = (config as { kind: unknown }).kind;
      throw new ValidationError([{ field: 'kind', description: `unknown event store ${String(kind)}` }]);
    }
  }
}
