/**
 * Commands and decide() for the Appointment aggregate (and its patient link). Pure: validation and rules only;
 * times, hashes and verification results are passed in so decide stays free of I/O.
 */
import { PreconditionError, UnauthenticatedError, ValidationError, type FieldViolation } from '@haven/errors';
import {
  LINK_NOT_VALID,
  LinkPolicy,
  linkTokenExpiry,
  passcodeFailure,
  refuseWhileLocked,
} from './link-policy';
import {
  AppointmentEventType,
  type AppointmentEvent,
  type AppointmentState,
  type ExistingAppointment,
} from './appointment';

/** Longest appointment we accept. */
export const MAX_APPOINTMENT_MINUTES = 240;

export interface BookAppointment {
  readonly type: 'BookAppointment';
  readonly data: {
    readonly appointmentId: string;
    readonly clinicianId: string;
    readonly patientId: string;
    readonly startTime: Date | undefined;
    readonly endTime: Date | undefined;
    /** True when the handler seals a reason into the event's `phi`. */
    readonly hasReason?: boolean;
    /** The series this booking is an occurrence of (recurring appointments), and which one (from 1). */
    readonly series?: { readonly seriesId: string; readonly occurrence: number };
    /** The decision time, passed in so decide stays pure. */
    readonly now: Date;
  };
}

export interface RescheduleAppointment {
  readonly type: 'RescheduleAppointment';
  readonly data: {
    readonly startTime: Date | undefined;
    readonly endTime: Date | undefined;
    readonly now: Date;
  };
}

export interface CancelAppointment {
  readonly type: 'CancelAppointment';
  readonly data: { readonly reasonCode: string };
}

export interface MarkNoShow {
  readonly type: 'MarkNoShow';
  readonly data: { readonly now: Date };
}

/** Reaction to the session context's VisitEnded. */
export interface CompleteAppointment {
  readonly type: 'CompleteAppointment';
  readonly data: { readonly visitId: string; readonly reason: string };
}

export interface IssuePatientLink {
  readonly type: 'IssuePatientLink';
  readonly data: {
    readonly linkId: string;
    readonly tokenSha256: string;
    readonly passcodeHash: string;
    readonly dateOfBirthRequired: boolean;
    readonly now: Date;
    /** The link closes this many minutes after the end (the clinic setting); default 30. */
    readonly graceMinutes?: number;
  };
}

export interface RedeemPatientLink {
  readonly type: 'RedeemPatientLink';
  readonly data: {
    readonly tokenSha256: string;
    /** Whether the passcode (and date of birth, when required) matched; checked by the handler. */
    readonly credentialsOk: boolean;
    readonly now: Date;
    readonly patientPrincipalId: string;
    readonly tokenId: string;
    readonly expiresAt: Date;
    /** Sign in to the secure messages: no join window, a visit that ended is fine. */
    readonly forMessages?: boolean;
  };
}

export type AppointmentCommand =
  | BookAppointment
  | RescheduleAppointment
  | CancelAppointment
  | MarkNoShow
  | CompleteAppointment
  | IssuePatientLink
  | RedeemPatientLink;

export { LinkPolicy, lockMinutes } from './link-policy';

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const MINUTE = 60_000;

function validateSlot(
  start: Date | undefined,
  end: Date | undefined,
  now: Date,
  prefix: string,
): FieldViolation[] {
  const v: FieldViolation[] = [];
  if (!start || Number.isNaN(start.getTime())) {
    v.push({ field: `${prefix}start_time`, description: 'is required' });
  } else if (start.getTime() < now.getTime()) {
    v.push({ field: `${prefix}start_time`, description: 'must not be in the past' });
  }
  if (!end || Number.isNaN(end.getTime())) {
    v.push({ field: `${prefix}end_time`, description: 'is required' });
  } else if (start && end.getTime() <= start.getTime()) {
    v.push({ field: `${prefix}end_time`, description: 'must be after start_time' });
  } else if (start && end.getTime() - start.getTime() > MAX_APPOINTMENT_MINUTES * MINUTE) {
    v.push({
      field: `${prefix}end_time`,
      description: `must be at most ${MAX_APPOINTMENT_MINUTES} minutes after start_time`,
    });
  }
  return v;
}

function validateBooking(cmd: BookAppointment['data']): FieldViolation[] {
  const v: FieldViolation[] = [];
  if (!ID.test(cmd.clinicianId))
    v.push({ field: 'appointment.clinician', description: 'must name a clinician' });
  if (!ID.test(cmd.patientId)) v.push({ field: 'appointment.patient', description: 'must name a patient' });
  if (
    cmd.series &&
    (!ID.test(cmd.series.seriesId) || !Number.isInteger(cmd.series.occurrence) || cmd.series.occurrence < 1)
  )
    v.push({ field: 'recurrence', description: 'must name a series and an occurrence from 1' });
  return [...v, ...validateSlot(cmd.startTime, cmd.endTime, cmd.now, 'appointment.')];
}

function existing(state: AppointmentState): ExistingAppointment {
  if (state.status === 'none') throw new PreconditionError('appointment does not exist');
  return state;
}

const CLOSED_MESSAGE: Record<Exclude<ExistingAppointment['status'], 'booked'>, string> = {
  cancelled: 'appointment is already cancelled',
  no_show: 'appointment was marked no-show',
  completed: 'appointment is completed',
};

function requireBooked(state: AppointmentState): ExistingAppointment {
  const s = existing(state);
  if (s.status !== 'booked') throw new PreconditionError(CLOSED_MESSAGE[s.status]);
  return s;
}

/** When the appointment's patient link opens and closes. */
export function linkWindow(
  state: Pick<ExistingAppointment, 'startTime' | 'endTime'> & {
    readonly link?: { readonly graceMinutes?: number };
  },
  graceMinutes: number = state.link?.graceMinutes ?? LinkPolicy.graceAfterEndMinutes,
): {
  opens: Date;
  closes: Date;
} {
  return {
    opens: new Date(Date.parse(state.startTime) - LinkPolicy.opensBeforeStartMinutes * MINUTE),
    closes: new Date(Date.parse(state.endTime) + graceMinutes * MINUTE),
  };
}

/** When a patient token issued at `now` expires: 2 h at most, and no later than the link's close. */
export function patientTokenExpiry(
  state: Pick<ExistingAppointment, 'endTime'> & { readonly link?: { readonly graceMinutes?: number } },
  now: Date,
): Date {
  return linkTokenExpiry(state.endTime, now, state.link?.graceMinutes);
}

function refuseRedeem(s: ExistingAppointment, cmd: RedeemPatientLink['data']): void {
  if (s.status === 'cancelled')
    throw new PreconditionError('this appointment was cancelled; the link no longer works');
  if (s.status === 'completed' && !cmd.forMessages)
    throw new PreconditionError('this visit has ended; the link no longer works');
  if (s.status === 'no_show')
    throw new PreconditionError('this appointment was closed as missed; ask the clinic for a new one');
  const link = s.link;
  if (!link) throw new UnauthenticatedError(LINK_NOT_VALID);
  if (link.tokenSha256 !== cmd.tokenSha256) {
    throw new PreconditionError('this link was replaced by a newer one; use the latest link from the clinic');
  }
  if (cmd.forMessages) {
    const until = Date.parse(s.endTime) + LinkPolicy.messagesAfterEndDays * 24 * 60 * MINUTE;
    if (cmd.now.getTime() > until) throw new PreconditionError('this link has expired');
  }
  const { opens, closes } = linkWindow(s);
  if (cmd.forMessages) {
    // The secure messages have no join window.
  } else if (cmd.now.getTime() < opens.getTime()) {
    throw new PreconditionError(
      `this link is not open yet; it opens at ${opens.toISOString()} (${LinkPolicy.opensBeforeStartMinutes} minutes before the appointment)`,
    );
  }
  if (!cmd.forMessages && cmd.now.getTime() > closes.getTime())
    throw new PreconditionError('this link has expired');
  refuseWhileLocked(link, cmd.now);
}

/**
 * Decides which events a command produces.
 * Throws ValidationError on bad input, PreconditionError when the appointment's state forbids it,
 * UnauthenticatedError when a redeemed link is unknown.
 */
export function decide(command: AppointmentCommand, state: AppointmentState): AppointmentEvent[] {
  switch (command.type) {
    case 'BookAppointment': {
      const violations = validateBooking(command.data);
      if (violations.length > 0) throw new ValidationError(violations);
      if (state.status !== 'none') throw new PreconditionError('appointment already exists');
      const { appointmentId, clinicianId, patientId, startTime, endTime, hasReason, series } = command.data;
      return [
        {
          type: AppointmentEventType.Booked,
          data: {
            appointmentId,
            clinicianId,
            patientId,
            startTime: (startTime as Date).toISOString(),
            endTime: (endTime as Date).toISOString(),
            ...(hasReason === true ? { hasReason: true } : {}),
            ...(series ? { seriesId: series.seriesId, occurrence: series.occurrence } : {}),
          },
        },
      ];
    }
    case 'RescheduleAppointment': {
      const { startTime, endTime, now } = command.data;
      const violations = validateSlot(startTime, endTime, now, '');
      if (violations.length > 0) throw new ValidationError(violations);
      const s = requireBooked(state);
      const start = (startTime as Date).toISOString();
      const end = (endTime as Date).toISOString();
      if (start === s.startTime && end === s.endTime) return [];
      return [
        {
          type: AppointmentEventType.Rescheduled,
          data: {
            appointmentId: s.appointmentId,
            clinicianId: s.clinicianId,
            previousStartTime: s.startTime,
            previousEndTime: s.endTime,
            startTime: start,
            endTime: end,
          },
        },
      ];
    }
    case 'CancelAppointment': {
      const s = requireBooked(state);
      return [
        {
          type: AppointmentEventType.Cancelled,
          data: { appointmentId: s.appointmentId, reasonCode: command.data.reasonCode },
        },
      ];
    }
    case 'MarkNoShow': {
      const s = requireBooked(state);
      if (command.data.now.getTime() < Date.parse(s.startTime)) {
        throw new PreconditionError('appointment has not started yet');
      }
      return [
        {
          type: AppointmentEventType.MarkedNoShow,
          data: { appointmentId: s.appointmentId, clinicianId: s.clinicianId },
        },
      ];
    }
    case 'CompleteAppointment': {
      const s = existing(state);
      if (s.status === 'completed' || s.status === 'cancelled') return [];
      return [
        {
          type: AppointmentEventType.Completed,
          data: {
            appointmentId: s.appointmentId,
            visitId: command.data.visitId,
            reason: command.data.reason,
          },
        },
      ];
    }
    case 'IssuePatientLink': {
      const s = requireBooked(state);
      const { linkId, tokenSha256, passcodeHash, dateOfBirthRequired, now, graceMinutes } = command.data;
      if (now.getTime() > linkWindow(s, graceMinutes ?? LinkPolicy.graceAfterEndMinutes).closes.getTime()) {
        throw new PreconditionError('appointment is over');
      }
      return [
        {
          type: AppointmentEventType.PatientLinkIssued,
          data: {
            appointmentId: s.appointmentId,
            linkId,
            tokenSha256,
            passcodeHash,
            dateOfBirthRequired,
            issuedAt: now.toISOString(),
            ...(graceMinutes !== undefined ? { graceMinutes } : {}),
            ...(s.link ? { replaces: s.link.linkId } : {}),
          },
        },
      ];
    }
    case 'RedeemPatientLink':
      return decideRedeem(existing(state), command.data);
  }
}

/** A redemption: wrong credentials count as a failed attempt (locking the link at the limit); right ones redeem. */
function decideRedeem(s: ExistingAppointment, data: RedeemPatientLink['data']): AppointmentEvent[] {
  refuseRedeem(s, data);
  const link = s.link!;
  if (!data.credentialsOk) {
    return [
      {
        type: AppointmentEventType.PassCodeAttemptFailed,
        data: { appointmentId: s.appointmentId, linkId: link.linkId, ...passcodeFailure(link, data.now) },
      },
    ];
  }
  return [
    {
      type: AppointmentEventType.PatientLinkRedeemed,
      data: {
        appointmentId: s.appointmentId,
        linkId: link.linkId,
        patientPrincipalId: data.patientPrincipalId,
        tokenId: data.tokenId,
        expiresAt: data.expiresAt.toISOString(),
      },
    },
  ];
}
