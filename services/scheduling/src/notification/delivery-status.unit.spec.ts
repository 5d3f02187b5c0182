/**
 * The delivery-status read model: folded from the Reminder* events by stream, by appointment and due time; a
 * retried failure shows its reason while scheduled again, a final one as failed; a secure message's notice
 * (no appointment) is not listed under any appointment; the proto view carries codes and times only.
 */
import { scheduling } from '@haven/proto';
import { DeliveryStatusIndex, deliveryToProto } from './delivery-status';
import { ReminderEventType, reminderStream } from './reminder';

let revision = 0;
function event(reminderId: string, type: string, data: Record<string, unknown>, at: string) {
  return {
    stream: reminderStream(reminderId),
    type,
    data: { reminderId, ...data },
    occurredAt: at,
    revision: revision++,
  };
}
const plan = (reminderId: string, kind: string, channel: string, dueAt: string, appointmentId = 'apt-1') => ({
  appointmentId,
  patientId: 'pat-1',
  clinicianId: 'doc-1',
  kind,
  channel,
  startTime: '2030-01-02T10:00:00.000Z',
  dueAt,
});

describe('the delivery status of an appointment', () => {
  it('lists each message by due time with its state, reason and time', () => {
    const index = new DeliveryStatusIndex();
    const T0 = '2030-01-01T09:00:00.000Z';
    index.apply(event('r-sms', ReminderEventType.Scheduled, plan('r-sms', 'invitation', 'sms', T0), T0));
    index.apply(
      event(
        'r-mail',
        ReminderEventType.Scheduled,
        plan('r-mail', 'reminder', 'email', '2030-01-02T09:00:00.000Z'),
        T0,
      ),
    );
    index.apply(event('r-inv', ReminderEventType.Scheduled, plan('r-inv', 'invitation', 'email', T0), T0));
    index.apply(event('r-note', ReminderEventType.Scheduled, plan('r-note', 'message', 'email', T0, ''), T0));
    index.apply(
      event('r-sms', ReminderEventType.Suppressed, { reason: 'opted_out' }, '2030-01-01T09:00:05.000Z'),
    );
    index.apply(
      event(
        'r-inv',
        ReminderEventType.Sending,
        { attempt: 1, messageId: 'm', startedAt: T0, leaseUntil: T0 },
        T0,
      ),
    );
    index.apply(
      event(
        'r-inv',
        ReminderEventType.Failed,
        { attempt: 1, reason: 'smtp_4xx', retrying: true, nextAttemptAt: T0 },
        T0,
      ),
    );

    const listed = index.of('apt-1').map(deliveryToProto);
    expect(listed.map((d) => d.name)).toEqual([
      'appointments/apt-1/messageDeliveries/r-inv',
      'appointments/apt-1/messageDeliveries/r-sms',
      'appointments/apt-1/messageDeliveries/r-mail',
    ]);
    expect(listed[0]).toMatchObject({
      state: scheduling.MessageDeliveryState.MESSAGE_DELIVERY_STATE_SCHEDULED,
      reason: 'smtp_4xx',
      attempts: 1,
    });
    expect(listed[1]).toMatchObject({
      kind: scheduling.MessageKind.MESSAGE_KIND_INVITATION,
      channel: scheduling.MessageChannel.MESSAGE_CHANNEL_SMS,
      state: scheduling.MessageDeliveryState.MESSAGE_DELIVERY_STATE_SUPPRESSED,
      reason: 'opted_out',
      updateTime: new Date('2030-01-01T09:00:05.000Z'),
    });
    expect(listed[2]).toMatchObject({ kind: scheduling.MessageKind.MESSAGE_KIND_REMINDER, reason: '' });
    expect(index.of('')).toEqual([]);

    index.apply(
      event(
        'r-inv',
        ReminderEventType.Sending,
        { attempt: 2, messageId: 'm', startedAt: T0, leaseUntil: T0 },
        T0,
      ),
    );
    index.apply(
      event('r-inv', ReminderEventType.Failed, { attempt: 2, reason: 'smtp_5xx', retrying: false }, T0),
    );
    expect(deliveryToProto(index.of('apt-1')[0]!)).toMatchObject({
      state: scheduling.MessageDeliveryState.MESSAGE_DELIVERY_STATE_FAILED,
      reason: 'smtp_5xx',
      attempts: 2,
    });
  });
});
