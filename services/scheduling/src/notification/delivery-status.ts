/**
 * What became of each message to a patient, by appointment, for the front desk: a read model folded from the
 * Reminder* events (the scheduling read model's follower feeds it) and ListMessageDeliveries. Ids, kinds,
 * channels, states, fixed reason codes and times only: the events carry no address, name, link or text, and
 * neither does this, so reading it is not a PHI read.
 */
import type { scheduling as schedulingTypes } from '@haven/proto';
import { scheduling } from '@haven/proto';
import { requirePrincipal, type CallContext } from '@haven/service';
import { requireSchedulingCaller, SchedulingScope } from '../access';
import { loadVisibleAppointment } from '../appointment/grpc';
import type { SchedulingDeps } from '../deps';
import { requireResourceId } from '../ids';
import {
  evolveReminder,
  initialReminderState,
  ReminderKind,
  ReminderChannel,
  type ReminderState,
} from './reminder';

const REMINDER_STREAM_PREFIX = 'scheduling.reminder-';

/** One message's status as the index keeps it. */
export interface DeliveryStatus {
  readonly state: Exclude<ReminderState, { readonly status: 'none' }>;
  /** When the last event of the message was stored. */
  readonly updatedAt: string;
}

/** The index: message statuses by appointment id. */
export class DeliveryStatusIndex {
  readonly #byReminder = new Map<string, DeliveryStatus>();
  readonly #byAppointment = new Map<string, Set<string>>();

  /** Folds one event of the scheduling context; other events are ignored. */
  apply(event: {
    readonly stream: string;
    readonly type: string;
    readonly data: unknown;
    readonly occurredAt: string;
    readonly revision?: bigint | number;
  }): void {
    if (!event.stream.startsWith(REMINDER_STREAM_PREFIX)) return;
    const id = event.stream.slice(REMINDER_STREAM_PREFIX.length);
    const known = this.#byReminder.get(id);
    const next = evolveReminder(known?.state ?? initialReminderState, event);
    if (next.status === 'none' || next === known?.state) return;
    this.#byReminder.set(id, { state: next, updatedAt: event.occurredAt });
    if (next.appointmentId === '') return; // a secure message's notice: by thread, not by appointment
    let ids = this.#byAppointment.get(next.appointmentId);
    if (!ids) this.#byAppointment.set(next.appointmentId, (ids = new Set()));
    ids.add(id);
  }

  /** The messages about an appointment, by due time. */
  of(appointmentId: string): DeliveryStatus[] {
    const ids = [...(this.#byAppointment.get(appointmentId) ?? [])];
    return ids
      .map((id) => this.#byReminder.get(id))
      .filter((d): d is DeliveryStatus => d !== undefined)
      .sort(
        (a, b) =>
          Date.parse(a.state.dueAt) - Date.parse(b.state.dueAt) ||
          a.state.reminderId.localeCompare(b.state.reminderId),
      );
  }
}

const KIND: Readonly<Record<ReminderKind, schedulingTypes.MessageKind>> = {
  [ReminderKind.Invitation]: scheduling.MessageKind.MESSAGE_KIND_INVITATION,
  [ReminderKind.Rescheduled]: scheduling.MessageKind.MESSAGE_KIND_RESCHEDULED,
  [ReminderKind.Cancelled]: scheduling.MessageKind.MESSAGE_KIND_CANCELLED,
  [ReminderKind.Reminder]: scheduling.MessageKind.MESSAGE_KIND_REMINDER,
  [ReminderKind.Passcode]: scheduling.MessageKind.MESSAGE_KIND_PASSCODE,
  [ReminderKind.Message]: scheduling.MessageKind.MESSAGE_KIND_MESSAGES_LINK,
};
const CHANNEL: Readonly<Record<ReminderChannel, schedulingTypes.MessageChannel>> = {
  [ReminderChannel.Email]: scheduling.MessageChannel.MESSAGE_CHANNEL_EMAIL,
  [ReminderChannel.Sms]: scheduling.MessageChannel.MESSAGE_CHANNEL_SMS,
};
const STATE: Readonly<Record<DeliveryStatus['state']['status'], schedulingTypes.MessageDeliveryState>> = {
  scheduled: scheduling.MessageDeliveryState.MESSAGE_DELIVERY_STATE_SCHEDULED,
  sending: scheduling.MessageDeliveryState.MESSAGE_DELIVERY_STATE_SENDING,
  sent: scheduling.MessageDeliveryState.MESSAGE_DELIVERY_STATE_SENT,
  failed: scheduling.MessageDeliveryState.MESSAGE_DELIVERY_STATE_FAILED,
  suppressed: scheduling.MessageDeliveryState.MESSAGE_DELIVERY_STATE_SUPPRESSED,
};

/** The proto view of one status (codes and times only). */
export function deliveryToProto(delivery: DeliveryStatus): schedulingTypes.MessageDelivery {
  const { state } = delivery;
  const reason =
    state.status === 'suppressed'
      ? (state.suppressedBecause ?? '')
      : state.status === 'failed' || state.status === 'scheduled'
        ? (state.lastFailure ?? '')
        : '';
  return scheduling.MessageDelivery.fromPartial({
    name: `appointments/${state.appointmentId}/messageDeliveries/${state.reminderId}`,
    kind: KIND[state.kind],
    channel: CHANNEL[state.channel],
    state: STATE[state.status],
    reason,
    offsetMinutes: state.offsetMinutes ?? 0,
    dueTime: new Date(state.dueAt),
    updateTime: new Date(delivery.updatedAt),
    attempts: state.attempts,
  });
}

/**
 * ListMessageDeliveries: the front desk, admins and the appointment's clinician (another clinician gets
 * NOT_FOUND, like GetAppointment). Not a PHI read: no PhiAccessed.
 */
export function listMessageDeliveries(deps: SchedulingDeps, index: DeliveryStatusIndex) {
  return async (
    request: schedulingTypes.ListMessageDeliveriesRequest,
    ctx: CallContext,
  ): Promise<schedulingTypes.ListMessageDeliveriesResponse> => {
    const principal = requirePrincipal(ctx);
    requireSchedulingCaller(principal, SchedulingScope.AppointmentsRead);
    const id = requireResourceId(request.parent, 'appointments', 'parent');
    await loadVisibleAppointment(deps, principal, id, SchedulingScope.AppointmentsRead);
    return { messageDeliveries: index.of(id).map(deliveryToProto) };
  };
}
