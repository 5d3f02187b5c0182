import { PreconditionError, ValidationError } from '@haven/errors';
import { commandWith, given } from '@haven/testing';
import { AppointmentEventType, evolve, initialAppointmentState, type AppointmentEvent } from './appointment';
import { decide, lockMinutes, patientTokenExpiry, type AppointmentCommand } from './decide';

const spec = { decide, evolve, initialState: initialAppointmentState };
const now = new Date('2026-11-26T09:00:00Z');
const book = commandWith<AppointmentCommand, 'BookAppointment'>('BookAppointment', {
  appointmentId: 'apt-1',
  clinicianId: 'clin-1',
  patientId: 'pat-1',
  startTime: new Date('2026-11-26T10:00:00Z'),
  endTime: new Date('2026-11-26T10:30:00Z'),
  now,
});
const booked: AppointmentEvent = {
  type: AppointmentEventType.Booked,
  data: {
    appointmentId: 'apt-1',
    clinicianId: 'clin-1',
    patientId: 'pat-1',
    startTime: '2026-11-26T10:00:00.000Z',
    endTime: '2026-11-26T10:30:00.000Z',
  },
};

describe('when no appointment exists', () => {
  it('books it', () => given(spec).when(book()).then([booked]));
  it('refuses a start time in the past', () =>
    given(spec)
      .when(book({ startTime: new Date('2026-11-26T08:00:00Z') }))
      .thenThrows(ValidationError, /start_time: must not be in the past/));
  it('refuses an end before the start and names both fields when both are bad', () => {
    const err = given(spec)
      .when(book({ clinicianId: '', endTime: new Date('2026-11-26T09:30:00Z') }))
      .error() as ValidationError;
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.violations.map((v) => v.field)).toEqual(['appointment.clinician', 'appointment.end_time']);
  });
  it('refuses a missing start time', () =>
    given(spec)
      .when(book({ startTime: undefined }))
      .thenThrows(ValidationError, /start_time: is required/));
  it('refuses an appointment longer than four hours', () =>
    given(spec)
      .when(book({ endTime: new Date('2026-11-26T14:30:00Z') }))
      .thenThrows(ValidationError, /at most 240 minutes/));
  it('cannot cancel it', () =>
    given(spec)
      .when({ type: 'CancelAppointment', data: { reasonCode: 'x' } })
      .thenThrows(PreconditionError));
});

describe('when the appointment is booked', () => {
  it('refuses to book it again', () =>
    given(spec, [booked])
      .when(book())
      .thenThrows(PreconditionError, /already exists/));
  it('cancels it', () =>
    given(spec, [booked])
      .when({ type: 'CancelAppointment', data: { reasonCode: 'patient_request' } })
      .then([
        {
          type: AppointmentEventType.Cancelled,
          data: { appointmentId: 'apt-1', reasonCode: 'patient_request' },
        },
      ]));
});

describe('when the appointment is cancelled', () => {
  const cancelled: AppointmentEvent = {
    type: AppointmentEventType.Cancelled,
    data: { appointmentId: 'apt-1', reasonCode: 'x' },
  };
  it('refuses to cancel it twice', () =>
    given(spec, [booked, cancelled])
      .when({ type: 'CancelAppointment', data: { reasonCode: 'y' } })
      .thenThrows(PreconditionError, /already cancelled/));
});

describe('rescheduling', () => {
  const reschedule = (start: string, end: string): AppointmentCommand => ({
    type: 'RescheduleAppointment',
    data: { startTime: new Date(start), endTime: new Date(end), now },
  });
  it('moves a booked appointment and records the previous slot', () =>
    given(spec, [booked])
      .when(reschedule('2026-11-26T11:00:00Z', '2026-11-26T11:30:00Z'))
      .then([
        {
          type: AppointmentEventType.Rescheduled,
          data: {
            appointmentId: 'apt-1',
            clinicianId: 'clin-1',
            previousStartTime: '2026-11-26T10:00:00.000Z',
            previousEndTime: '2026-11-26T10:30:00.000Z',
            startTime: '2026-11-26T11:00:00.000Z',
            endTime: '2026-11-26T11:30:00.000Z',
          },
        },
      ]));
  it('does nothing when the slot is unchanged', () =>
    given(spec, [booked]).when(reschedule('2026-11-26T10:00:00Z', '2026-11-26T10:30:00Z')).then([]));
  it('refuses a new start in the past on start_time', () =>
    given(spec, [booked])
      .when(reschedule('2026-11-26T08:00:00Z', '2026-11-26T08:30:00Z'))
      .thenThrows(ValidationError, /^invalid request: start_time: must not be in the past/));
  it('refuses to move a cancelled appointment', () =>
    given(spec, [
      booked,
      { type: AppointmentEventType.Cancelled, data: { appointmentId: 'apt-1', reasonCode: 'x' } },
    ])
      .when(reschedule('2026-11-26T11:00:00Z', '2026-11-26T11:30:00Z'))
      .thenThrows(PreconditionError, /cancelled/));
});

describe('marking a no-show', () => {
  it('refuses before the start', () =>
    given(spec, [booked])
      .when({ type: 'MarkNoShow', data: { now } })
      .thenThrows(PreconditionError, /not started/));
  it('marks it once the appointment started', () =>
    given(spec, [booked])
      .when({ type: 'MarkNoShow', data: { now: new Date('2026-11-26T10:05:00Z') } })
      .then([
        { type: AppointmentEventType.MarkedNoShow, data: { appointmentId: 'apt-1', clinicianId: 'clin-1' } },
      ]));
  it('cannot cancel after a no-show', () =>
    given(spec, [
      booked,
      { type: AppointmentEventType.MarkedNoShow, data: { appointmentId: 'apt-1', clinicianId: 'clin-1' } },
    ])
      .when({ type: 'CancelAppointment', data: { reasonCode: 'x' } })
      .thenThrows(PreconditionError, /no-show/));
});

describe('when the visit ended', () => {
  it('completes the appointment once (idempotent)', () => {
    const completed: AppointmentEvent = {
      type: AppointmentEventType.Completed,
      data: { appointmentId: 'apt-1', visitId: 'apt-1', reason: 'ended' },
    };
    given(spec, [booked])
      .when({ type: 'CompleteAppointment', data: { visitId: 'apt-1', reason: 'ended' } })
      .then([completed]);
    given(spec, [booked, completed])
      .when({ type: 'CompleteAppointment', data: { visitId: 'apt-1', reason: 'ended' } })
      .then([]);
  });
});

describe('patient links', () => {
  const issue = (linkId: string, at = now): AppointmentCommand => ({
    type: 'IssuePatientLink',
    data: {
      linkId,
      tokenSha256: `hash-${linkId}`,
      passcodeHash: `pc-${linkId}`,
      dateOfBirthRequired: false,
      now: at,
    },
  });
  const issued = (linkId: string, replaces?: string): AppointmentEvent => ({
    type: AppointmentEventType.PatientLinkIssued,
    data: {
      appointmentId: 'apt-1',
      linkId,
      tokenSha256: `hash-${linkId}`,
      passcodeHash: `pc-${linkId}`,
      dateOfBirthRequired: false,
      issuedAt: now.toISOString(),
      ...(replaces ? { replaces } : {}),
    },
  });
  const inWindow = new Date('2026-11-26T09:50:00Z');
  const redeem = commandWith<AppointmentCommand, 'RedeemPatientLink'>('RedeemPatientLink', {
    tokenSha256: 'hash-l1',
    credentialsOk: true,
    now: inWindow,
    patientPrincipalId: 'pat-1',
    tokenId: 'jti-1',
    expiresAt: new Date('2026-11-26T11:00:00Z'),
  });
  /** A wrong passcode on link l1; with `lockedUntil`, the one that locks it until then. */
  const failed = (attempt: number, lockedUntil?: string): AppointmentEvent => ({
    type: AppointmentEventType.PassCodeAttemptFailed,
    data: {
      appointmentId: 'apt-1',
      linkId: 'l1',
      attempt,
      ...(lockedUntil ? { locked: true, lockedUntil } : { locked: false }),
    },
  });

  it('issues a link for a booked appointment', () =>
    given(spec, [booked])
      .when(issue('l1'))
      .then([issued('l1')]));
  it('a reissued link supersedes the previous one', () =>
    given(spec, [booked, issued('l1')])
      .when(issue('l2'))
      .then([issued('l2', 'l1')]));
  it('refuses to issue a link for a cancelled appointment', () =>
    given(spec, [
      booked,
      { type: AppointmentEventType.Cancelled, data: { appointmentId: 'apt-1', reasonCode: 'x' } },
    ])
      .when(issue('l1'))
      .thenThrows(PreconditionError, /cancelled/));
  it('refuses to issue a link once the appointment is over', () =>
    given(spec, [booked])
      .when(issue('l1', new Date('2026-11-26T12:00:00Z')))
      .thenThrows(PreconditionError, /over/));

  it('redeems a current link inside the window', () =>
    given(spec, [booked, issued('l1')])
      .when(redeem())
      .then([
        {
          type: AppointmentEventType.PatientLinkRedeemed,
          data: {
            appointmentId: 'apt-1',
            linkId: 'l1',
            patientPrincipalId: 'pat-1',
            tokenId: 'jti-1',
            expiresAt: '2026-11-26T11:00:00.000Z',
          },
        },
      ]));
  it('refuses the old link after a reissue', () =>
    given(spec, [booked, issued('l1'), issued('l2', 'l1')])
      .when(redeem())
      .thenThrows(PreconditionError, /replaced by a newer one/));
  it('refuses a link more than 15 minutes before the start', () =>
    given(spec, [booked, issued('l1')])
      .when(redeem({ now: new Date('2026-11-26T09:40:00Z') }))
      .thenThrows(PreconditionError, /not open yet/));
  it('refuses a link after the end plus grace', () =>
    given(spec, [booked, issued('l1')])
      .when(redeem({ now: new Date('2026-11-26T11:01:00Z') }))
      .thenThrows(PreconditionError, /expired/));
  it('refuses the link of a cancelled appointment', () =>
    given(spec, [
      booked,
      issued('l1'),
      { type: AppointmentEventType.Cancelled, data: { appointmentId: 'apt-1', reasonCode: 'x' } },
    ])
      .when(redeem())
      .thenThrows(PreconditionError, /cancelled/));
  it('refuses the link after the visit ended', () =>
    given(spec, [
      booked,
      issued('l1'),
      {
        type: AppointmentEventType.Completed,
        data: { appointmentId: 'apt-1', visitId: 'apt-1', reason: 'ended' },
      },
    ])
      .when(redeem())
      .thenThrows(PreconditionError, /visit has ended/));
  describe('for the secure messages', () => {
    const completed: AppointmentEvent = {
      type: AppointmentEventType.Completed,
      data: { appointmentId: 'apt-1', visitId: 'apt-1', reason: 'ended' },
    };
    const redeemed = (now: Date) =>
      given(spec, [booked, issued('l1'), completed])
        .when(redeem({ now, forMessages: true }))
        .result();
    it('redeems the link after the visit ended and before the join window', () => {
      expect(redeemed(new Date('2026-12-20T09:00:00Z')).map((e) => e.type)).toEqual([
        AppointmentEventType.PatientLinkRedeemed,
      ]);
      const early = given(spec, [booked, issued('l1')])
        .when(redeem({ now: new Date('2026-11-20T09:00:00Z'), forMessages: true }))
        .result();
      expect(early.map((e) => e.type)).toEqual([AppointmentEventType.PatientLinkRedeemed]);
    });
    it('refuses it 30 days after the appointment, and a replaced or cancelled link as always', () => {
      given(spec, [booked, issued('l1'), completed])
        .when(redeem({ now: new Date('2026-12-27T11:00:00Z'), forMessages: true }))
        .thenThrows(PreconditionError, /expired/);
      given(spec, [booked, issued('l1'), issued('l2', 'l1')])
        .when(redeem({ forMessages: true }))
        .thenThrows(PreconditionError, /replaced/);
    });
    it('still counts a wrong passcode', () =>
      given(spec, [booked, issued('l1'), completed, failed(1)])
        .when(redeem({ credentialsOk: false, forMessages: true, now: new Date('2026-12-01T09:00:00Z') }))
        .then([failed(2)]));
  });
  it('counts a wrong passcode', () =>
    given(spec, [booked, issued('l1'), failed(1)])
      .when(redeem({ credentialsOk: false }))
      .then([failed(2)]));
  it('locks the link on the fifth wrong passcode for 15 minutes', () =>
    given(spec, [booked, issued('l1'), failed(1), failed(2), failed(3), failed(4)])
      .when(redeem({ credentialsOk: false }))
      .then([failed(5, '2026-11-26T10:05:00.000Z')]));
  it('refuses even the right passcode while locked, then doubles the next lock', () => {
    const lock = failed(5, '2026-11-26T10:05:00.000Z');
    given(spec, [booked, issued('l1'), lock])
      .when(redeem())
      .thenThrows(PreconditionError, /link locked, ask the clinic/);
    const later = new Date('2026-11-26T10:06:00Z');
    const err = given(spec, [booked, issued('l1'), lock, failed(1), failed(2), failed(3), failed(4)]).when(
      redeem({ credentialsOk: false, now: later }),
    );
    err.then([failed(5, '2026-11-26T10:36:00.000Z')]);
  });
  it('bounds the patient token by the end of the appointment plus 30 minutes and by 2 hours', () => {
    expect(patientTokenExpiry({ endTime: '2026-11-26T10:30:00.000Z' }, inWindow).toISOString()).toBe(
      '2026-11-26T11:00:00.000Z',
    );
    expect(patientTokenExpiry({ endTime: '2026-11-26T23:00:00.000Z' }, inWindow).toISOString()).toBe(
      '2026-11-26T11:50:00.000Z',
    );
    expect(lockMinutes(1)).toBe(15);
    expect(lockMinutes(3)).toBe(60);
    expect(lockMinutes(20)).toBe(24 * 60);
  });
});
