import type { EventStore, InspectableEventStore, StoreInspection } from './port';

/**
 * The {@link StoreInspection} of a store, when its adapter offers one (every Haven adapter does); undefined for
 * a store that cannot be inspected (a wrapper or a test double).
 */
export function inspectionOf(store: EventStore): StoreInspection | undefined {
  const candidate = store as Partial<InspectableEventStore>;
  return typeof candidate.inspection === 'function' ? candidate.inspection() : undefined;
}
