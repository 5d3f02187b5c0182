/**
 * The booking reconciler (a process manager, docs/adr/0005-atomic-bookings.md). A booking or a move commits
 * when the clinician's slot is reserved; the appointment's own event follows in a second append, and a
 * cancellation releases the slot in a second append. When a handler dies (or NATS drops it) between the two,
 * this finishes the job from the stored facts, so the store never keeps a slot nobody can book or an
 * appointment without its slot:
 *
 * - a reservation that carries a booking, with no appointment yet → `AppointmentBooked` (as the booker, caused
 *   by the reservation, with the booking's request id, so a client's retry still finds it);
 * - a reservation that moves an appointment still at its old times → `AppointmentRescheduled`;
 * - a slot held for a closed appointment (cancelled, completed, marked no-show), or for an id that another
 *   clinician's appointment took → `ClinicianSlotReleased` (reason `reconciled`): a closed appointment frees
 *   its slot.
 *
 * It follows the scheduling context (fed by the read model's subscription), acts on what stayed unfinished for
 * `settleMs`, decides on the streams themselves (not on the read model), and retries with back-off. Every step
 * is idempotent, so several replicas may run it.
 */
import type { PositionedEvent } from '@haven/eventstore';
import { causedBy } from '@haven/service';
import type { SchedulingDeps } from '../deps';
import { completeBooking, loadAppointment, runAppointmentCommand } from '../appointment/grpc';
import { AppointmentEventType } from '../appointment/appointment';
import { ScheduleEventType, type SlotBooking } from './schedule';
import { releaseSlot } from './slots';

/** Options of {@link BookingReconciler}. */
export interface BookingReconcilerOptions {
  /** How long a booking may stay half done before the reconciler finishes it. Default 3 s. */
  readonly settleMs?: number;
  /** How often it looks. Default 1 s. */
  readonly intervalMs?: number;
  /** Longest back-off after failed attempts. Default 30 s. */
  readonly maxBackoffMs?: number;
}

interface Pending {
  readonly kind: 'reserved' | 'closed';
  readonly event: PositionedEvent;
  /** When this replica first saw it unfinished (local clock). */
  readonly since: number;
  attempts: number;
  nextAt: number;
}

const SERVICE = { kind: 'service', id: 'scheduling' } as const;

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Closed appointments (cancelled, completed, no-show) hold no slot. */
const isClosed = (status: string): boolean =>
  status === 'cancelled' || status === 'completed' || status === 'no_show';

/** What the reconciler did in one pass, for logs and tests. */
export interface ReconcileCounts {
  booked: number;
  rescheduled: number;
  released: number;
  failed: number;
}

export class BookingReconciler {
  private readonly pending = new Map<string, Pending>();
  private readonly settleMs: number;
  private readonly intervalMs: number;
  private readonly maxBackoffMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ReconcileCounts> | undefined;
  /** Totals since start. */
  readonly totals: ReconcileCounts = { booked: 0, rescheduled: 0, released: 0, failed: 0 };

  constructor(
    private readonly deps: SchedulingDeps,
    options: BookingReconcilerOptions = {},
  ) {
    this.settleMs = options.settleMs ?? 3_000;
    this.intervalMs = options.intervalMs ?? 1_000;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
  }

  /** How many appointments look unfinished right now. */
  get unfinished(): number {
    return this.pending.size;
  }

  /** Follows one stored scheduling event (in store order). Throws nothing. */
  observe(event: PositionedEvent): void {
    const appointmentId = str(event.data['appointmentId']);
    if (appointmentId === '') return;
    const now = Date.now();
    switch (event.type) {
      case ScheduleEventType.SlotReserved:
        this.pending.set(appointmentId, { kind: 'reserved', event, since: now, attempts: 0, nextAt: 0 });
        break;
      case ScheduleEventType.SlotReleased:
        this.pending.delete(appointmentId);
        break;
      case AppointmentEventType.Booked:
      case AppointmentEventType.Rescheduled: {
        const p = this.pending.get(appointmentId);
        if (
          p?.kind === 'reserved' &&
          Date.parse(str(p.event.data['startTime'])) === Date.parse(str(event.data['startTime'])) &&
          Date.parse(str(p.event.data['endTime'])) === Date.parse(str(event.data['endTime']))
        ) {
          this.pending.delete(appointmentId);
        }
        break;
      }
      case AppointmentEventType.Cancelled:
      case AppointmentEventType.Completed:
      case AppointmentEventType.MarkedNoShow:
        this.pending.set(appointmentId, { kind: 'closed', event, since: now, attempts: 0, nextAt: 0 });
        break;
      default:
        break;
    }
  }

  /** Starts looking every `intervalMs`. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      void this.runOnce();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops looking; waits for a pass in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** Finishes what has stayed unfinished for `settleMs` (one pass; concurrent calls share it). */
  runOnce(now = Date.now()): Promise<ReconcileCounts> {
    this.running ??= this.pass(now).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(now: number): Promise<ReconcileCounts> {
    const counts: ReconcileCounts = { booked: 0, rescheduled: 0, released: 0, failed: 0 };
    const due = [...this.pending].filter(([, p]) => p.since + this.settleMs <= now && p.nextAt <= now);
    for (const [appointmentId, p] of due) {
      try {
        const done = await this.reconcile(appointmentId, p, counts);
        if (done && this.pending.get(appointmentId) === p) this.pending.delete(appointmentId);
      } catch (error) {
        counts.failed += 1;
        p.attempts += 1;
        p.nextAt = now + Math.min(this.maxBackoffMs, 500 * 2 ** p.attempts);
        this.deps.logger.warn(
          { err: error, appointmentId, attempts: p.attempts },
          'reconciler could not finish a booking step yet',
        );
      }
    }
    for (const k of Object.keys(counts) as (keyof ReconcileCounts)[]) this.totals[k] += counts[k];
    return counts;
  }

  /** One appointment: true when nothing is left to do for this entry. */
  private async reconcile(appointmentId: string, p: Pending, counts: ReconcileCounts): Promise<boolean> {
    const { deps } = this;
    const { state } = await loadAppointment(deps, appointmentId);
    const e = p.event;
    const release = async (clinicianId: string): Promise<void> => {
      const result = await releaseSlot(deps, causedBy(e, SERVICE), {
        clinicianId,
        appointmentId,
        reason: 'reconciled',
      });
      if (result.events.length > 0) {
        counts.released += 1;
        deps.logger.info({ appointmentId, clinicianId }, 'reconciler released a slot');
      }
    };
    if (p.kind === 'closed') {
      if (state.status !== 'none' && isClosed(state.status)) await release(state.clinicianId);
      return true;
    }
    const clinicianId = str(e.data['clinicianId']);
    const startTime = new Date(str(e.data['startTime']));
    const endTime = new Date(str(e.data['endTime']));
    const booking = e.data['booking'] as SlotBooking | undefined;
    if (state.status === 'none') {
      if (!booking) {
        await release(clinicianId); // a move of an appointment that does not exist
        return true;
      }
      // Finish the booking the reservation committed, as decided then (validated at the reservation's time).
      await completeBooking(
        deps,
        appointmentId,
        {
          type: 'BookAppointment',
          data: {
            appointmentId,
            clinicianId,
            patientId: booking.patientId,
            startTime,
            endTime,
            ...(booking.hasReason === true ? { hasReason: true } : {}),
            ...(booking.series ? { series: booking.series } : {}),
            now: new Date(Date.parse(e.occurredAt) || Date.now()),
          },
        },
        causedBy(e, e.actor), // the booker's own: the reconciler finishes their decision
        { phi: e.phi, request: e.request },
      );
      counts.booked += 1;
      deps.logger.info({ appointmentId, clinicianId }, 'reconciler completed a booking');
      return true;
    }
    if (state.clinicianId !== clinicianId || isClosed(state.status)) {
      await release(clinicianId); // the id belongs to another clinician's appointment, or it is closed
      return true;
    }
    if (state.status !== 'booked' || booking) return true;
    if (
      Date.parse(state.startTime) === startTime.getTime() &&
      Date.parse(state.endTime) === endTime.getTime()
    ) {
      return true;
    }
    await runAppointmentCommand(
      deps,
      appointmentId,
      {
        type: 'RescheduleAppointment',
        data: { startTime, endTime, now: new Date(Date.parse(e.occurredAt) || Date.now()) },
      },
      causedBy(e, e.actor),
      { request: e.request },
    );
    counts.rescheduled += 1;
    deps.logger.info({ appointmentId, clinicianId }, 'reconciler completed a move');
    return true;
  }
}
