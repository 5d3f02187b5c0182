import type { EventStore } from '@haven/eventstore';

/** What the scheduling handlers need from the outside world. */
export interface SchedulingDeps {
  readonly store: EventStore;
  readonly clock: () => Date;
}
