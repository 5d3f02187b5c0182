/**
 * The Reminder aggregate: one message to a patient (an invitation, a change or cancellation notice, a reminder
 * before the visit), as an outbox of events. Pure: no I/O, no Node builtins.
 * Stream: `scheduling.reminder-<reminderId>`. Event data carries ids, kinds, times and fixed reason codes only:
 * never an address, a name or a message body (those are read, rendered and sent at send time, never stored).
 *
 *   ReminderScheduled → ReminderSending → ReminderSent
 *                                       ↘ ReminderFailed (retryable: scheduled again after a back-off; final)
 *                     ↘ ReminderSuppressed (opted out, appointment cancelled or moved, no contact, too late)
 */

export const ReminderEventType = {
  Scheduled: 'haven.scheduling.v1.ReminderScheduled',
  Sending: 'haven.scheduling.v1.ReminderSending',
  Sent: 'haven.scheduling.v1.ReminderSent',
  Failed: 'haven.scheduling.v1.ReminderFailed',
  Suppressed: 'haven.scheduling.v1.ReminderSuppressed',
} as const;

/** What a message is about. */
export const ReminderKind = {
  Invitation: 'invitation',
  Rescheduled: 'rescheduled',
  Cancelled: 'cancelled',
  Reminder: 'reminder',
  /** The passcode alone, by the other channel than the link (clinic setting); the only kind with the passcode. */
  Passcode: 'passcode',
  /**
   * "You have a new message from <clinic>" and the link to the messages page, for a secure message from the
   * care team; fixed wording, never the text.
   */
  Message: 'message',
} as const;
export type ReminderKind = (typeof ReminderKind)[keyof typeof ReminderKind];

/** The kinds a clinic's templates cover (the passcode template never carries a link, the others never the passcode). */
export type TemplateKind = Exclude<ReminderKind, 'message'>;
export const TEMPLATE_KINDS: readonly TemplateKind[] = [
  ReminderKind.Invitation,
  ReminderKind.Rescheduled,
  ReminderKind.Cancelled,
  ReminderKind.Reminder,
  ReminderKind.Passcode,
];

/** How the passcode reaches the patient (clinic setting HAVEN_PASSCODE_DELIVERY). */
export const PasscodeDelivery = { FrontDesk: 'front-desk', Sms: 'sms', Email: 'email' } as const;
export type PasscodeDelivery = (typeof PasscodeDelivery)[keyof typeof PasscodeDelivery];

/** How it travels. */
export const ReminderChannel = { Email: 'email', Sms: 'sms' } as const;
export type ReminderChannel = (typeof ReminderChannel)[keyof typeof ReminderChannel];

/** Why a reminder is not sent (fixed codes, never data). */
export const SuppressionReason = {
  OptedOut: 'opted_out',
  AppointmentClosed: 'appointment_closed',
  AppointmentMoved: 'appointment_moved',
  NoContact: 'no_contact',
  NoLink: 'no_link',
  /** A passcode message for a link that a newer link replaced. */
  LinkReplaced: 'link_replaced',
  TooLate: 'too_late',
  PatientErased: 'patient_erased',
} as const;
export type SuppressionReason = (typeof SuppressionReason)[keyof typeof SuppressionReason];

export interface ReminderScheduled {
  readonly type: typeof ReminderEventType.Scheduled;
  readonly data: {
    readonly reminderId: string;
    readonly appointmentId: string;
    readonly patientId: string;
    readonly clinicianId: string;
    readonly kind: ReminderKind;
    readonly channel: ReminderChannel;
    /** The appointment's start this message is about (a move makes the reminders of the old start stale). */
    readonly startTime: string;
    /** When to send (ISO-8601). */
    readonly dueAt: string;
    /** For `reminder`: minutes before the start. */
    readonly offsetMinutes?: number;
    /** For `passcode`: the link whose passcode it carries. */
    readonly linkId?: string;
    /** For `message`: the secure message thread (its `appointmentId` and `clinicianId` are empty). */
    readonly threadId?: string;
    /** For `message`: the secure message it announces. */
    readonly secureMessageId?: string;
  };
}

export interface ReminderSending {
  readonly type: typeof ReminderEventType.Sending;
  readonly data: {
    readonly reminderId: string;
    readonly attempt: number;
    /** The transport-level id, derived from the reminder id (SMTP Message-ID): the same on every attempt. */
    readonly messageId: string;
    readonly startedAt: string;
    /** Until when this attempt owns the reminder; after it, another sender reconciles. */
    readonly leaseUntil: string;
  };
}

export interface ReminderSent {
  readonly type: typeof ReminderEventType.Sent;
  readonly data: {
    readonly reminderId: string;
    readonly attempt: number;
    readonly messageId: string;
    readonly sentAt: string;
    /**
     * True when a later sender recorded it from the relay's accepted mark (the attempt that sent it ended before
     * its ReminderSent was stored); `sentAt` is then when that was found.
     */
    readonly recovered?: true;
  };
}

export interface ReminderFailed {
  readonly type: typeof ReminderEventType.Failed;
  readonly data: {
    readonly reminderId: string;
    readonly attempt: number;
    /** A fixed code: `smtp_4xx`, `smtp_5xx`, `connection`, `timeout`, `rejected`… */
    readonly reason: string;
    /** True when another attempt follows at `nextAttemptAt`; false = given up. */
    readonly retrying: boolean;
    readonly nextAttemptAt?: string;
  };
}

export interface ReminderSuppressed {
  readonly type: typeof ReminderEventType.Suppressed;
  readonly data: { readonly reminderId: string; readonly reason: SuppressionReason };
}

export type ReminderEvent =
  ReminderScheduled | ReminderSending | ReminderSent | ReminderFailed | ReminderSuppressed;

/** The plan of a reminder, as scheduled. */
export type ReminderPlan = ReminderScheduled['data'];

export type ReminderState =
  | { readonly status: 'none' }
  | (ReminderPlan & {
      readonly status: 'scheduled' | 'sending' | 'sent' | 'failed' | 'suppressed';
      /** Attempts started so far. */
      readonly attempts: number;
      /** When the next attempt may start (scheduled: `dueAt`, then the back-off). */
      readonly nextAttemptAt: string;
      /** While sending: until when the current attempt owns the reminder. */
      readonly leaseUntil?: string;
      readonly messageId?: string;
      readonly lastFailure?: string;
      readonly suppressedBecause?: SuppressionReason;
      readonly revision: number;
    });

export const initialReminderState: ReminderState = { status: 'none' };

export function reminderStream(reminderId: string): string {
  return `scheduling.reminder-${reminderId}`;
}

/** The SMTP Message-ID of a reminder: the same for every attempt, so a relay can tell a repeat. */
export function messageIdOf(reminderId: string, domain: string): string {
  return `<reminder-${reminderId}@${domain}>`;
}

function revisionOf(event: { revision?: bigint | number }, previous: number): number {
  return event.revision !== undefined ? Number(event.revision) : previous + 1;
}

/** Folds one event. Unknown types leave the state unchanged. */
export function evolveReminder(state: ReminderState, event: { type: string; data: unknown }): ReminderState {
  const e = event as ReminderEvent;
  const env = event as { revision?: bigint | number };
  if (e.type === ReminderEventType.Scheduled) {
    if (state.status !== 'none') return state;
    return {
      ...e.data,
      status: 'scheduled',
      attempts: 0,
      nextAttemptAt: e.data.dueAt,
      revision: revisionOf(env, -1),
    };
  }
  if (state.status === 'none') return state;
  const revision = revisionOf(env, state.revision);
  switch (e.type) {
    case ReminderEventType.Sending:
      return {
        ...state,
        status: 'sending',
        attempts: e.data.attempt,
        messageId: e.data.messageId,
        leaseUntil: e.data.leaseUntil,
        revision,
      };
    case ReminderEventType.Sent:
      return { ...state, status: 'sent', revision };
    case ReminderEventType.Failed:
      return {
        ...state,
        status: e.data.retrying ? 'scheduled' : 'failed',
        lastFailure: e.data.reason,
        nextAttemptAt: e.data.nextAttemptAt ?? state.nextAttemptAt,
        revision,
      };
    case ReminderEventType.Suppressed:
      return { ...state, status: 'suppressed', suppressedBecause: e.data.reason, revision };
    default:
      return state;
  }
}
