/**
 * Test helper: checks the scheduling context's stored events for the traces a fault can leave behind, from the
 * raw event log (see event-log.ts), independent of the services' own code:
 *
 * - duplicates: one operation (one correlation id, which a client keeps across its retries) that registered
 *   more than one patient or booked more than one appointment;
 * - orphan reservations: a slot held in a clinician's schedule for an appointment that was never booked, or
 *   that was cancelled;
 * - half bookings: a booked appointment whose slot the clinician's schedule does not hold (or holds at other
 *   times).
 */
import type { LoggedEvent } from './event-log';

const T = {
  patientRegistered: 'haven.scheduling.v1.PatientRegistered',
  booked: 'haven.scheduling.v1.AppointmentBooked',
  rescheduled: 'haven.scheduling.v1.AppointmentRescheduled',
  cancelled: 'haven.scheduling.v1.AppointmentCancelled',
  noShow: 'haven.scheduling.v1.AppointmentMarkedNoShow',
  completed: 'haven.scheduling.v1.AppointmentCompleted',
  reserved: 'haven.scheduling.v1.ClinicianSlotReserved',
  released: 'haven.scheduling.v1.ClinicianSlotReleased',
} as const;

/** What the checker found. Every list is empty on a healthy store. */
export interface SchedulingCheck {
  /** Correlation ids that registered more than one patient: id → patient streams. */
  readonly duplicatePatients: ReadonlyMap<string, readonly string[]>;
  /** Correlation ids that booked more than one appointment: id → appointment streams. */
  readonly duplicateBookings: ReadonlyMap<string, readonly string[]>;
  /** `clinician/appointment` of slots held for an appointment that does not exist or was cancelled. */
  readonly orphanReservations: readonly string[];
  /** Appointments booked (and not cancelled) whose slot is not held at their times. */
  readonly halfBookings: readonly string[];
  /** Counts, for reports. */
  readonly counts: {
    readonly patients: number;
    readonly appointments: number;
    readonly reservations: number;
    readonly releases: number;
  };
}

interface Appointment {
  status: 'booked' | 'cancelled' | 'no_show' | 'completed';
  clinicianId: string;
  startTime: string;
  endTime: string;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function group(events: readonly LoggedEvent[], type: string): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const e of events) {
    if (e.type !== type) continue;
    by.set(e.correlationId, [...(by.get(e.correlationId) ?? []), e.stream]);
  }
  return new Map([...by].filter(([, streams]) => streams.length > 1));
}

/**
 * Checks the scheduling events of a store. `events` is the whole log (or its scheduling part) in store order.
 * Pure; throws nothing.
 */
export function checkScheduling(events: readonly LoggedEvent[]): SchedulingCheck {
  const appointments = new Map<string, Appointment>();
  const slots = new Map<string, Map<string, { startTime: string; endTime: string }>>();
  let reservations = 0;
  let releases = 0;
  for (const e of events) {
    const d = e.data;
    const appointmentId = str(d['appointmentId']);
    switch (e.type) {
      case T.booked:
        appointments.set(appointmentId, {
          status: 'booked',
          clinicianId: str(d['clinicianId']),
          startTime: str(d['startTime']),
          endTime: str(d['endTime']),
        });
        break;
      case T.rescheduled: {
        const a = appointments.get(appointmentId);
        if (a) Object.assign(a, { startTime: str(d['startTime']), endTime: str(d['endTime']) });
        break;
      }
      case T.cancelled:
      case T.noShow:
      case T.completed: {
        const a = appointments.get(appointmentId);
        if (a) {
          a.status = e.type === T.cancelled ? 'cancelled' : e.type === T.noShow ? 'no_show' : 'completed';
        }
        break;
      }
      case T.reserved: {
        reservations += 1;
        const clinician = str(d['clinicianId']);
        const held = slots.get(clinician) ?? new Map<string, { startTime: string; endTime: string }>();
        held.set(appointmentId, { startTime: str(d['startTime']), endTime: str(d['endTime']) });
        slots.set(clinician, held);
        break;
      }
      case T.released:
        releases += 1;
        slots.get(str(d['clinicianId']))?.delete(appointmentId);
        break;
      default:
        break;
    }
  }
  const orphanReservations: string[] = [];
  for (const [clinician, held] of slots) {
    for (const appointmentId of held.keys()) {
      const a = appointments.get(appointmentId);
      if (!a || a.status === 'cancelled') orphanReservations.push(`${clinician}/${appointmentId}`);
    }
  }
  const halfBookings: string[] = [];
  for (const [appointmentId, a] of appointments) {
    if (a.status !== 'booked') continue;
    const slot = slots.get(a.clinicianId)?.get(appointmentId);
    if (!slot || Date.parse(slot.startTime) !== Date.parse(a.startTime)) {
      halfBookings.push(`${a.clinicianId}/${appointmentId}`);
    }
  }
  return {
    duplicatePatients: group(events, T.patientRegistered),
    duplicateBookings: group(events, T.booked),
    orphanReservations,
    halfBookings,
    counts: {
      patients: events.filter((e) => e.type === T.patientRegistered).length,
      appointments: appointments.size,
      reservations,
      releases,
    },
  };
}

/** What {@link checkVisits} found. Both lists are empty on a healthy store. */
export interface VisitCheck {
  /** Booked (not cancelled) appointments whose visit was never opened. */
  readonly missingVisits: readonly string[];
  /** Cancelled appointments whose visit is still open. */
  readonly openAfterCancel: readonly string[];
  readonly counts: { readonly opened: number; readonly ended: number };
}

/**
 * Checks that the session context followed the bookings (the session service's booking consumer): every booked
 * appointment that was not cancelled has its visit (`session.visit-<appointment id>`) opened, and no cancelled
 * appointment's visit is still open. `events` is the whole log. Pure; throws nothing.
 */
export function checkVisits(events: readonly LoggedEvent[]): VisitCheck {
  const appointments = new Map<string, 'booked' | 'cancelled'>();
  const visits = new Map<string, 'open' | 'ended'>();
  let opened = 0;
  let ended = 0;
  for (const e of events) {
    const appointmentId = str(e.data['appointmentId']);
    if (e.type === T.booked) appointments.set(appointmentId, 'booked');
    else if (e.type === T.cancelled && appointments.has(appointmentId))
      appointments.set(appointmentId, 'cancelled');
    else if (e.type === 'haven.session.v1.VisitOpened') {
      opened += 1;
      visits.set(str(e.data['visitId']), 'open');
    } else if (e.type === 'haven.session.v1.VisitEnded') {
      ended += 1;
      visits.set(e.stream.slice('session.visit-'.length), 'ended');
    }
  }
  const missingVisits: string[] = [];
  const openAfterCancel: string[] = [];
  for (const [id, status] of appointments) {
    if (status === 'booked' && !visits.has(id)) missingVisits.push(id);
    if (status === 'cancelled' && visits.get(id) === 'open') openAfterCancel.push(id);
  }
  return { missingVisits, openAfterCancel, counts: { opened, ended } };
}
