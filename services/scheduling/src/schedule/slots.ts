/**
 * Commands on a clinician's schedule stream, read from snapshots so a booking's cost does not grow with the
 * clinician's history (the stream keeps every slot ever reserved; the snapshot only those that can still
 * overlap a booking).
 */
import type { RequestRecord, SealedPhi } from '@haven/eventstore';
import { handleCommand, loadAggregate, type CommandMetadata, type SnapshotPolicy } from '@haven/service';
import type { SchedulingDeps } from '../deps';
import {
  compactSchedule,
  decideSchedule,
  decodeSchedule,
  encodeSchedule,
  evolveSchedule,
  initialScheduleState,
  SCHEDULE_SNAPSHOT_VERSION,
  scheduleStream,
  type ScheduleCommand,
  type ReserveSlot,
  type ScheduleState,
} from './schedule';

/** The snapshot policy of clinician schedules. */
export function schedulePolicy(deps: Pick<SchedulingDeps, 'snapshots'>): SnapshotPolicy<ScheduleState> {
  return {
    store: deps.snapshots,
    version: SCHEDULE_SNAPSHOT_VERSION,
    encode: encodeSchedule,
    decode: decodeSchedule,
    compact: compactSchedule,
  };
}

function runSchedule(
  deps: Pick<SchedulingDeps, 'store' | 'snapshots' | 'clock'>,
  clinicianId: string,
  command: ScheduleCommand,
  metadata: CommandMetadata,
  options: { readonly request?: RequestRecord | undefined; readonly phi?: SealedPhi | undefined } = {},
) {
  const { request, phi } = options;
  return handleCommand({
    store: deps.store,
    stream: scheduleStream(clinicianId),
    decide: (c: ScheduleCommand, s: ScheduleState) =>
      decideSchedule(c, s).map((e) => (phi && c.type === 'ReserveSlot' ? { ...e, phi } : e)),
    evolve: evolveSchedule,
    initialState: initialScheduleState,
    snapshots: schedulePolicy(deps),
    command,
    metadata,
    ...(request ? { request } : {}),
    now: deps.clock,
    // A clinician's schedule is the hot stream of every booking: this replica's bookings take turns, and a
    // race lost to another replica is retried after a short random pause.
    serialize: true,
    maxRetries: 8,
  });
}

/** A clinician's schedule as it is now (from its snapshot), for checks before a command. */
export function loadSchedule(deps: Pick<SchedulingDeps, 'store' | 'snapshots'>, clinicianId: string) {
  return loadAggregate({
    store: deps.store,
    stream: scheduleStream(clinicianId),
    evolve: evolveSchedule,
    initialState: initialScheduleState,
    snapshots: schedulePolicy(deps),
  });
}

/** A slot to reserve: what the schedule's ReserveSlot command carries. */
export type SlotRequest = ReserveSlot['data'];

/**
 * Reserves a slot: the commit point of a booking or a move. Throws ValidationError on overlap,
 * RequestIdReusedError, CallAbortedError, ConcurrencyError after the retries, UnavailableError.
 */
export function reserveSlot(
  deps: Pick<SchedulingDeps, 'store' | 'snapshots' | 'clock'>,
  metadata: CommandMetadata,
  slot: SlotRequest,
  options: { readonly request?: RequestRecord | undefined; readonly phi?: SealedPhi | undefined } = {},
) {
  const { clinicianId, appointmentId, startTime, endTime, field, booking, timeZone } = slot;
  return runSchedule(
    deps,
    clinicianId,
    {
      type: 'ReserveSlot',
      data: {
        clinicianId,
        appointmentId,
        startTime,
        endTime,
        field,
        ...(booking !== undefined ? { booking } : {}),
        ...(timeZone !== undefined ? { timeZone } : {}),
      },
    },
    metadata,
    options,
  );
}

/** Releases an appointment's slot (a no-op when it holds none). Rejects like {@link reserveSlot}. */
export function releaseSlot(
  deps: Pick<SchedulingDeps, 'store' | 'snapshots' | 'clock'>,
  metadata: CommandMetadata,
  slot: { readonly clinicianId: string; readonly appointmentId: string; readonly reason?: string },
) {
  return runSchedule(deps, slot.clinicianId, { type: 'ReleaseSlot', data: { ...slot } }, metadata);
}
