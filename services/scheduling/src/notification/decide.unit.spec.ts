import { AlreadyExistsError, PreconditionError } from '@haven/errors';
import { given } from '@haven/testing';
import {
  channelRoles,
  DEFAULT_OUTBOX_POLICY,
  decideReminder,
  isDue,
  planMessages,
  retryDelayMs,
  staleness,
  type ReminderCommand,
} from './decide';
import {
  evolveReminder,
  initialReminderState,
  ReminderEventType,
  ReminderKind,
  SuppressionReason,
  type ReminderEvent,
  type ReminderPlan,
} from './reminder';

const spec = { decide: decideReminder, evolve: evolveReminder, initialState: initialReminderState };
const booked = new Date('2026-12-01T09:00:00Z');
const start = '2026-12-03T10:00:00.000Z';
const facts = { clinicianId: 'doc-1', patientId: 'pat-1', startTime: start };
const policy = { ...DEFAULT_OUTBOX_POLICY, minBackoffMs: 1_000, maxBackoffMs: 8_000, maxAttempts: 3 };

const plan: ReminderPlan = {
  reminderId: 'appt-1_reminder60_29415600_email',
  appointmentId: 'appt-1',
  patientId: 'pat-1',
  clinicianId: 'doc-1',
  kind: ReminderKind.Reminder,
  channel: 'email',
  startTime: start,
  dueAt: '2026-12-03T09:00:00.000Z',
  offsetMinutes: 60,
};
const scheduled: ReminderEvent = { type: ReminderEventType.Scheduled, data: plan };
const at = (iso: string) => new Date(iso);
const sending = (attempt: number, startedAt: string, leaseUntil: string): ReminderEvent => ({
  type: ReminderEventType.Sending,
  data: { reminderId: plan.reminderId, attempt, messageId: '<m@x>', startedAt, leaseUntil },
});
const start1: ReminderCommand = {
  type: 'StartSending',
  data: { messageId: '<m@x>', now: at('2026-12-03T09:00:00Z'), leaseMs: 60_000 },
};

describe('planning from appointment events', () => {
  it('plans an invitation now and a reminder 24 h and 1 h before the start, per channel', () => {
    const plans = planMessages(
      { type: 'haven.scheduling.v1.AppointmentBooked', data: { appointmentId: 'appt-1', ...facts } },
      facts,
      { offsetsMinutes: [1440, 60], channels: ['email'] },
      booked,
    );
    expect(plans.map((p) => [p.kind, p.dueAt])).toEqual([
      ['invitation', booked.toISOString()],
      ['reminder', '2026-12-02T10:00:00.000Z'],
      ['reminder', '2026-12-03T09:00:00.000Z'],
    ]);
    expect(new Set(plans.map((p) => p.reminderId)).size).toBe(3);
  });
  it('plans the same ids when the same event is planned twice (idempotent)', () => {
    const change = {
      type: 'haven.scheduling.v1.AppointmentBooked',
      data: { appointmentId: 'appt-1', ...facts },
    } as const;
    const a = planMessages(change, facts, DEFAULT_OUTBOX_POLICY, booked);
    const b = planMessages(change, facts, DEFAULT_OUTBOX_POLICY, new Date(booked.getTime() + 1000));
    expect(a.map((p) => p.reminderId)).toEqual(b.map((p) => p.reminderId));
  });
  it('skips reminders whose time has passed', () => {
    const late = planMessages(
      { type: 'haven.scheduling.v1.AppointmentBooked', data: { appointmentId: 'appt-1', ...facts } },
      facts,
      DEFAULT_OUTBOX_POLICY,
      at('2026-12-03T09:10:00Z'),
    );
    expect(late.map((p) => p.kind)).toEqual(['invitation']);
  });
  it('plans a change notice and new reminders on a move, with ids of the new start', () => {
    const moved = { ...facts, startTime: '2026-12-04T10:00:00.000Z' };
    const plans = planMessages(
      {
        type: 'haven.scheduling.v1.AppointmentRescheduled',
        data: { appointmentId: 'appt-1', startTime: moved.startTime },
      },
      moved,
      DEFAULT_OUTBOX_POLICY,
      booked,
    );
    expect(plans.map((p) => p.kind)).toEqual(['rescheduled', 'reminder', 'reminder']);
    expect(plans[1]?.reminderId).not.toBe(plan.reminderId);
  });
  it('plans only a cancellation notice on a cancellation', () => {
    const plans = planMessages(
      { type: 'haven.scheduling.v1.AppointmentCancelled', data: { appointmentId: 'appt-1' } },
      facts,
      DEFAULT_OUTBOX_POLICY,
      booked,
    );
    expect(plans.map((p) => p.kind)).toEqual(['cancelled']);
  });
});

describe('when the passcode goes by the other channel', () => {
  const bookedChange = {
    type: 'haven.scheduling.v1.AppointmentBooked',
    data: { appointmentId: 'appt-1', ...facts },
  } as const;
  const linkIssued = {
    type: 'haven.scheduling.v1.PatientLinkIssued',
    data: { appointmentId: 'appt-1', linkId: 'link-1' },
  } as const;
  const both = { offsetsMinutes: [60], channels: ['email', 'sms'] as const };

  it('assigns the link and the passcode to different channels, never the same one', () => {
    expect(channelRoles('sms', ['email', 'sms'])).toEqual({ link: ['email'], passcode: 'sms' });
    expect(channelRoles('email', ['email', 'sms'])).toEqual({ link: ['sms'], passcode: 'email' });
    expect(channelRoles('front-desk', ['email', 'sms'])).toEqual({ link: ['email', 'sms'] });
  });
  it('sends the invitation with the link by e-mail only when the passcode goes by SMS, reminders by both', () => {
    // A reminder by SMS still goes (the SMS-only patient hears of the visit too); it carries no link and no
    // passcode (the outbox renders it without them), so the SMS channel never holds both.
    const plans = planMessages(bookedChange, facts, { ...both, passcodeDelivery: 'sms' }, booked);
    expect(plans.map((p) => [p.kind, p.channel])).toEqual([
      ['invitation', 'email'],
      ['reminder', 'email'],
      ['reminder', 'sms'],
    ]);
  });
  it('plans the passcode alone by SMS when a link is issued, one per link', () => {
    const plans = planMessages(linkIssued, facts, { ...both, passcodeDelivery: 'sms' }, booked);
    expect(plans).toEqual([
      expect.objectContaining({
        kind: 'passcode',
        channel: 'sms',
        linkId: 'link-1',
        reminderId: 'appt-1_passcode_link-1_sms',
        dueAt: booked.toISOString(),
      }),
    ]);
  });
  it('plans the passcode by e-mail and the link by SMS the other way round', () => {
    expect(
      planMessages(linkIssued, facts, { ...both, passcodeDelivery: 'email' }, booked).map((p) => p.channel),
    ).toEqual(['email']);
    expect(
      planMessages(bookedChange, facts, { ...both, passcodeDelivery: 'email' }, booked).map((p) => p.channel),
    ).toEqual(['sms', 'email', 'sms']);
  });
  it('plans no passcode message when the front desk reads it out', () =>
    expect(planMessages(linkIssued, facts, { ...both, passcodeDelivery: 'front-desk' }, booked)).toEqual([]));
  it('still announces a cancellation by every channel', () =>
    expect(
      planMessages(
        { type: 'haven.scheduling.v1.AppointmentCancelled', data: { appointmentId: 'appt-1' } },
        facts,
        { ...both, passcodeDelivery: 'sms' },
        booked,
      ).map((p) => p.channel),
    ).toEqual(['email', 'sms']));
  it('suppresses the passcode of a link that a newer link replaced', () => {
    const passcodePlan = { ...plan, kind: ReminderKind.Passcode, linkId: 'link-1' };
    const now = at('2026-12-02T09:00:00Z');
    expect(
      staleness(passcodePlan, { status: 'booked', startTime: start, linkId: 'link-1' }, now),
    ).toBeUndefined();
    expect(staleness(passcodePlan, { status: 'booked', startTime: start, linkId: 'link-2' }, now)).toBe(
      SuppressionReason.LinkReplaced,
    );
    expect(staleness(passcodePlan, { status: 'cancelled', startTime: start, linkId: 'link-1' }, now)).toBe(
      SuppressionReason.AppointmentClosed,
    );
  });
});

describe('staleness just before sending', () => {
  const now = at('2026-12-03T09:00:00Z');
  it('sends a reminder of a booked appointment at that start', () =>
    expect(staleness(plan, { status: 'booked', startTime: start }, now)).toBeUndefined());
  it('suppresses a reminder of a moved appointment', () =>
    expect(staleness(plan, { status: 'booked', startTime: '2026-12-04T10:00:00Z' }, now)).toBe(
      SuppressionReason.AppointmentMoved,
    ));
  it('suppresses a reminder of a cancelled appointment but sends its cancellation notice', () => {
    expect(staleness(plan, { status: 'cancelled', startTime: start }, now)).toBe(
      SuppressionReason.AppointmentClosed,
    );
    expect(
      staleness({ ...plan, kind: 'cancelled' }, { status: 'cancelled', startTime: start }, now),
    ).toBeUndefined();
  });
  it('suppresses anything about a start that has passed', () =>
    expect(staleness(plan, { status: 'booked', startTime: start }, at(start))).toBe(
      SuppressionReason.TooLate,
    ));
});

describe('when a reminder is scheduled', () => {
  it('refuses to schedule it twice', () =>
    given(spec, [scheduled]).when({ type: 'ScheduleReminder', data: plan }).thenThrows(AlreadyExistsError));
  it('refuses to start before it is due', () =>
    given(spec, [scheduled])
      .when({ ...start1, data: { ...start1.data, now: at('2026-12-03T08:59:59Z') } })
      .thenThrows(PreconditionError, /not due/));
  it('starts attempt 1 with the lease', () =>
    given(spec, [scheduled])
      .when(start1)
      .then([sending(1, '2026-12-03T09:00:00.000Z', '2026-12-03T09:01:00.000Z')]));
  it('can be suppressed (opt-out)', () =>
    given(spec, [scheduled])
      .when({ type: 'SuppressReminder', data: { reason: SuppressionReason.OptedOut } })
      .then([
        { type: ReminderEventType.Suppressed, data: { reminderId: plan.reminderId, reason: 'opted_out' } },
      ]));
});

describe('when an attempt is under way', () => {
  const past = [scheduled, sending(1, '2026-12-03T09:00:00.000Z', '2026-12-03T09:01:00.000Z')];
  it('records the send with the attempt and Message-ID', () =>
    given(spec, past)
      .when({ type: 'RecordSent', data: { now: at('2026-12-03T09:00:01Z') } })
      .then([
        {
          type: ReminderEventType.Sent,
          data: {
            reminderId: plan.reminderId,
            attempt: 1,
            messageId: '<m@x>',
            sentAt: '2026-12-03T09:00:01.000Z',
          },
        },
      ]));
  it('records a send found by its accepted mark as recovered, on the attempt that took over', () =>
    given(spec, [...past, sending(2, '2026-12-03T09:01:00.000Z', '2026-12-03T09:02:00.000Z')])
      .when({ type: 'RecordSent', data: { now: at('2026-12-03T09:01:00Z'), recovered: true } })
      .then([
        {
          type: ReminderEventType.Sent,
          data: {
            reminderId: plan.reminderId,
            attempt: 2,
            messageId: '<m@x>',
            sentAt: '2026-12-03T09:01:00.000Z',
            recovered: true,
          },
        },
      ]));
  it('refuses a second sender while the lease runs', () =>
    given(spec, past)
      .when({ ...start1, data: { ...start1.data, now: at('2026-12-03T09:00:30Z') } })
      .thenThrows(PreconditionError));
  it('lets a sender reconcile once the lease ran out (same Message-ID, next attempt)', () =>
    given(spec, past)
      .when({ ...start1, data: { ...start1.data, now: at('2026-12-03T09:01:00Z') } })
      .then([sending(2, '2026-12-03T09:01:00.000Z', '2026-12-03T09:02:00.000Z')]));
  it('schedules a retry after a back-off on a retryable failure', () =>
    given(spec, past)
      .when({
        type: 'RecordFailure',
        data: { now: at('2026-12-03T09:00:02Z'), reason: 'smtp_4xx', retryable: true, policy },
      })
      .then([
        {
          type: ReminderEventType.Failed,
          data: {
            reminderId: plan.reminderId,
            attempt: 1,
            reason: 'smtp_4xx',
            retrying: true,
            nextAttemptAt: '2026-12-03T09:00:03.000Z',
          },
        },
      ]));
  it('gives up on a permanent failure', () =>
    given(spec, past)
      .when({
        type: 'RecordFailure',
        data: { now: at('2026-12-03T09:00:02Z'), reason: 'smtp_5xx', retryable: false, policy },
      })
      .then([
        {
          type: ReminderEventType.Failed,
          data: { reminderId: plan.reminderId, attempt: 1, reason: 'smtp_5xx', retrying: false },
        },
      ]));
  it('gives up after the last attempt even when retryable', () => {
    const three = [
      scheduled,
      sending(1, '2026-12-03T09:00:00.000Z', '2026-12-03T09:01:00.000Z'),
      sending(2, '2026-12-03T09:01:00.000Z', '2026-12-03T09:02:00.000Z'),
      sending(3, '2026-12-03T09:02:00.000Z', '2026-12-03T09:03:00.000Z'),
    ];
    const [failed] = given(spec, three)
      .when({
        type: 'RecordFailure',
        data: { now: at('2026-12-03T09:02:01Z'), reason: 'timeout', retryable: true, policy },
      })
      .result();
    expect(failed).toMatchObject({ data: { attempt: 3, retrying: false } });
  });
  it('refuses to record a send that was not started', () =>
    given(spec, [scheduled])
      .when({ type: 'RecordSent', data: { now: booked } })
      .thenThrows(PreconditionError));
});

describe('after the end', () => {
  it('a sent reminder is never due again', () => {
    let state = initialReminderState;
    for (const e of [scheduled, sending(1, '2026-12-03T09:00:00.000Z', '2026-12-03T09:01:00.000Z')])
      state = evolveReminder(state, e);
    state = evolveReminder(state, { type: ReminderEventType.Sent, data: {} });
    expect(isDue(state, at('2027-01-01T00:00:00Z'))).toBe(false);
  });
  it('back-off doubles and is capped', () =>
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, policy))).toEqual([1000, 2000, 4000, 8000, 8000]));
});
