/**
 * The notification outbox's pure rules: which messages an appointment event plans, whether a planned message is
 * still worth sending, and the reminder decider (start an attempt, record its outcome, suppress). Pure: times,
 * message ids and transport outcomes are passed in.
 */
import { AlreadyExistsError, PreconditionError } from '@haven/errors';
import {
  PasscodeDelivery,
  ReminderChannel,
  ReminderEventType,
  ReminderKind,
  SuppressionReason,
  type ReminderEvent,
  type ReminderPlan,
  type ReminderState,
} from './reminder';

/** Outbox settings (clinic settings and sender policy). */
export interface OutboxPolicy {
  /** Reminders this many minutes before the start (default 24 h and 1 h). */
  readonly offsetsMinutes: readonly number[];
  /** The channels messages go by. */
  readonly channels: readonly ReminderChannel[];
  /** Attempts before a retryable failure becomes final. */
  readonly maxAttempts: number;
  /** First retry delay; doubles per attempt up to {@link OutboxPolicy.maxBackoffMs}. */
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  /** How long one attempt owns a reminder before another sender may reconcile it. */
  readonly leaseMs: number;
}

export const DEFAULT_OUTBOX_POLICY: OutboxPolicy = {
  offsetsMinutes: [24 * 60, 60],
  channels: [ReminderChannel.Email],
  maxAttempts: 6,
  minBackoffMs: 30_000,
  maxBackoffMs: 30 * 60_000,
  leaseMs: 2 * 60_000,
};

/** The appointment facts the outbox plans from (an AppointmentBooked / Rescheduled / Cancelled event). */
export type AppointmentChange =
  | {
      readonly type: 'haven.scheduling.v1.AppointmentBooked';
      readonly data: { appointmentId: string; clinicianId: string; patientId: string; startTime: string };
    }
  | {
      readonly type: 'haven.scheduling.v1.AppointmentRescheduled';
      readonly data: { appointmentId: string; startTime: string };
    }
  | { readonly type: 'haven.scheduling.v1.AppointmentCancelled'; readonly data: { appointmentId: string } }
  | {
      readonly type: 'haven.scheduling.v1.PatientLinkIssued';
      readonly data: { appointmentId: string; linkId: string };
    };

/**
 * Which channels carry the link and which one the passcode (never the same message, never the same channel):
 * `front-desk` = every channel carries the link, staff read the passcode out; `sms` = the link by e-mail and
 * the passcode by SMS; `email` = the link by SMS and the passcode by e-mail.
 */
export function channelRoles(
  delivery: PasscodeDelivery,
  channels: readonly ReminderChannel[],
): { readonly link: readonly ReminderChannel[]; readonly passcode?: ReminderChannel } {
  if (delivery === PasscodeDelivery.FrontDesk) return { link: channels };
  const passcode = delivery === PasscodeDelivery.Sms ? ReminderChannel.Sms : ReminderChannel.Email;
  return { link: channels.filter((c) => c !== passcode), passcode };
}

/** What the planner knows about the appointment beyond the event (from its stream). */
export interface AppointmentFacts {
  readonly clinicianId: string;
  readonly patientId: string;
  readonly startTime: string;
}

const minutesOf = (iso: string) => Math.floor(Date.parse(iso) / 60_000);

/**
 * The reminder id of a planned message: readable and deterministic, so planning the same event twice plans the
 * same reminders (the append of an existing stream is then refused and ignored).
 */
export function reminderIdOf(plan: Omit<ReminderPlan, 'reminderId' | 'dueAt'>): string {
  const base = `${plan.appointmentId}_${plan.kind}`;
  switch (plan.kind) {
    case ReminderKind.Invitation:
    case ReminderKind.Cancelled:
      return `${base}_${plan.channel}`;
    case ReminderKind.Rescheduled:
      return `${base}_${minutesOf(plan.startTime)}_${plan.channel}`;
    case ReminderKind.Reminder:
      return `${base}${plan.offsetMinutes ?? 0}_${minutesOf(plan.startTime)}_${plan.channel}`;
    case ReminderKind.Passcode:
      return `${base}_${plan.linkId ?? ''}_${plan.channel}`;
    case ReminderKind.Message:
      return `${plan.threadId ?? ''}_message_${plan.secureMessageId ?? ''}_${plan.channel}`;
  }
}

/**
 * The messages an appointment event plans: booked → an invitation now and a reminder at each offset still in
 * the future; moved → a change notice now and reminders for the new start; cancelled → a cancellation notice;
 * a link issued → its passcode by the passcode channel, when the clinic sends it (`passcodeDelivery`).
 * Messages with the link go by the link channels, a cancellation and the reminders by every channel (a
 * reminder by the passcode's channel carries neither the link nor the passcode). Reminders whose time has
 * passed are not planned.
 */
export function planMessages(
  change: AppointmentChange,
  facts: AppointmentFacts,
  policy: Pick<OutboxPolicy, 'offsetsMinutes' | 'channels'> & {
    readonly passcodeDelivery?: PasscodeDelivery;
  },
  occurredAt: Date,
): ReminderPlan[] {
  const start = Date.parse(facts.startTime);
  const now = occurredAt.getTime();
  const plans: ReminderPlan[] = [];
  const roles = channelRoles(policy.passcodeDelivery ?? PasscodeDelivery.FrontDesk, policy.channels);
  const add = (kind: ReminderKind, dueAt: number, offsetMinutes?: number, linkId?: string) => {
    // A cancellation and a reminder go by every channel (a reminder on the passcode's channel without the
    // link: see the outbox), the passcode by its channel alone, the other messages with the link by the link's.
    const channels =
      kind === ReminderKind.Cancelled || kind === ReminderKind.Reminder
        ? policy.channels
        : kind === ReminderKind.Passcode
          ? roles.passcode
            ? [roles.passcode]
            : []
          : roles.link;
    for (const channel of channels) {
      const plan = {
        appointmentId: change.data.appointmentId,
        patientId: facts.patientId,
        clinicianId: facts.clinicianId,
        kind,
        channel,
        startTime: facts.startTime,
        ...(offsetMinutes !== undefined ? { offsetMinutes } : {}),
        ...(linkId !== undefined ? { linkId } : {}),
      };
      plans.push({ ...plan, reminderId: reminderIdOf(plan), dueAt: new Date(dueAt).toISOString() });
    }
  };
  const reminders = () => {
    for (const offset of policy.offsetsMinutes) {
      const due = start - offset * 60_000;
      if (due > now) add(ReminderKind.Reminder, due, offset);
    }
  };
  switch (change.type) {
    case 'haven.scheduling.v1.AppointmentBooked':
      if (start > now) add(ReminderKind.Invitation, now);
      reminders();
      break;
    case 'haven.scheduling.v1.AppointmentRescheduled':
      if (start > now) add(ReminderKind.Rescheduled, now);
      reminders();
      break;
    case 'haven.scheduling.v1.AppointmentCancelled':
      if (start > now) add(ReminderKind.Cancelled, now);
      break;
    case 'haven.scheduling.v1.PatientLinkIssued':
      if (start > now) add(ReminderKind.Passcode, now, undefined, change.data.linkId);
      break;
  }
  return plans;
}

/** The appointment as it is when a message is about to go. */
export interface AppointmentNow {
  readonly status: 'none' | 'booked' | 'cancelled' | 'no_show' | 'completed';
  readonly startTime?: string;
  /** The current patient link. */
  readonly linkId?: string;
}

/**
 * Whether a planned message still makes sense, checked just before sending: the reason to suppress it, or
 * undefined to send. A move makes the messages about the old start stale; a cancellation stops everything but
 * its own notice; nothing is sent about a start that has passed.
 */
export function staleness(
  plan: Pick<ReminderPlan, 'kind' | 'startTime' | 'linkId'>,
  appointment: AppointmentNow,
  now: Date,
): SuppressionReason | undefined {
  if (now.getTime() >= Date.parse(plan.startTime)) return SuppressionReason.TooLate;
  if (plan.kind === ReminderKind.Passcode) {
    if (appointment.status !== 'booked') return SuppressionReason.AppointmentClosed;
    return appointment.linkId === plan.linkId ? undefined : SuppressionReason.LinkReplaced;
  }
  if (plan.kind === ReminderKind.Cancelled) {
    return appointment.status === 'cancelled' ? undefined : SuppressionReason.AppointmentClosed;
  }
  if (appointment.status !== 'booked') return SuppressionReason.AppointmentClosed;
  if (
    appointment.startTime !== undefined &&
    Date.parse(appointment.startTime) !== Date.parse(plan.startTime)
  ) {
    return SuppressionReason.AppointmentMoved;
  }
  return undefined;
}

export type ReminderCommand =
  | { readonly type: 'ScheduleReminder'; readonly data: ReminderPlan }
  | {
      readonly type: 'StartSending';
      readonly data: { readonly messageId: string; readonly now: Date; readonly leaseMs: number };
    }
  | {
      readonly type: 'RecordSent';
      /** `recovered`: the relay's acceptance was found by its mark, after the attempt that sent it ended. */
      readonly data: { readonly now: Date; readonly recovered?: boolean };
    }
  | {
      readonly type: 'RecordFailure';
      readonly data: {
        readonly now: Date;
        readonly reason: string;
        readonly retryable: boolean;
        readonly policy: Pick<OutboxPolicy, 'maxAttempts' | 'minBackoffMs' | 'maxBackoffMs'>;
      };
    }
  | { readonly type: 'SuppressReminder'; readonly data: { readonly reason: SuppressionReason } };

/** True when a sender may start an attempt now: due and scheduled, or sending under a lease that ran out. */
export function isDue(state: ReminderState, now: Date): boolean {
  if (state.status === 'scheduled') return Date.parse(state.nextAttemptAt) <= now.getTime();
  if (state.status === 'sending') return Date.parse(state.leaseUntil ?? state.nextAttemptAt) <= now.getTime();
  return false;
}

/** The delay before attempt `attempt + 1` after `attempt` failed (1-based): doubling, capped. */
export function retryDelayMs(
  attempt: number,
  policy: Pick<OutboxPolicy, 'minBackoffMs' | 'maxBackoffMs'>,
): number {
  return Math.min(policy.maxBackoffMs, policy.minBackoffMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
}

/**
 * The reminder decider. Throws AlreadyExistsError when the reminder was already scheduled (planning twice), and
 * PreconditionError when the command does not fit the reminder's state (not due, already finished, not sending).
 */
export function decideReminder(command: ReminderCommand, state: ReminderState): ReminderEvent[] {
  if (command.type === 'ScheduleReminder') {
    if (state.status !== 'none')
      throw new AlreadyExistsError(`reminder ${command.data.reminderId} already scheduled`);
    return [{ type: ReminderEventType.Scheduled, data: command.data }];
  }
  if (state.status === 'none') throw new PreconditionError('no such reminder');
  const { reminderId } = state;
  switch (command.type) {
    case 'StartSending': {
      if (!isDue(state, command.data.now)) throw new PreconditionError(`reminder ${reminderId} is not due`);
      const { now, leaseMs, messageId } = command.data;
      return [
        {
          type: ReminderEventType.Sending,
          data: {
            reminderId,
            attempt: state.attempts + 1,
            messageId,
            startedAt: now.toISOString(),
            leaseUntil: new Date(now.getTime() + leaseMs).toISOString(),
          },
        },
      ];
    }
    case 'RecordSent':
      if (state.status !== 'sending') throw new PreconditionError(`reminder ${reminderId} is not being sent`);
      return [
        {
          type: ReminderEventType.Sent,
          data: {
            reminderId,
            attempt: state.attempts,
            messageId: state.messageId ?? '',
            sentAt: command.data.now.toISOString(),
            ...(command.data.recovered ? { recovered: true as const } : {}),
          },
        },
      ];
    case 'RecordFailure': {
      if (state.status !== 'sending') throw new PreconditionError(`reminder ${reminderId} is not being sent`);
      const { now, reason, retryable, policy } = command.data;
      const retrying = retryable && state.attempts < policy.maxAttempts;
      return [
        {
          type: ReminderEventType.Failed,
          data: {
            reminderId,
            attempt: state.attempts,
            reason,
            retrying,
            ...(retrying
              ? {
                  nextAttemptAt: new Date(now.getTime() + retryDelayMs(state.attempts, policy)).toISOString(),
                }
              : {}),
          },
        },
      ];
    }
    case 'SuppressReminder':
      if (state.status !== 'scheduled' && state.status !== 'sending') {
        throw new PreconditionError(`reminder ${reminderId} is already ${state.status}`);
      }
      return [{ type: ReminderEventType.Suppressed, data: { reminderId, reason: command.data.reason } }];
  }
}
