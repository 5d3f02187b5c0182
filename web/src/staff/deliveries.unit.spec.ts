/**
 * The front desk's lines about an appointment's messages: what the patient did not get and what to do, the
 * messages still retried or waiting for the link; nothing for a message sent or not sent for an expected reason.
 */
import { deliveryNotices, type Delivery } from './deliveries';

const NOW = Date.parse('2030-01-01T12:00:00.000Z');
const d = (over: Partial<Delivery>): Delivery => ({
  id: `r-${Math.random().toString(36).slice(2)}`,
  kind: 'reminder',
  channel: 'sms',
  state: 'sent',
  reason: '',
  offsetMinutes: 0,
  dueTime: '2030-01-01T11:00:00.000Z',
  updateTime: '2030-01-01T11:00:01.000Z',
  attempts: 1,
  ...over,
});

describe('the lines about an appointment’s messages', () => {
  it('tells the desk when the patient opted out or has no address, and what to do', () => {
    const texts = deliveryNotices(
      [
        d({ state: 'suppressed', reason: 'opted_out' }),
        d({ kind: 'invitation', channel: 'email', state: 'suppressed', reason: 'no_contact' }),
        d({
          kind: 'reminder',
          offsetMinutes: 1440,
          channel: 'email',
          state: 'suppressed',
          reason: 'opted_out',
        }),
      ],
      NOW,
    ).map((n) => [n.tone, n.text]);
    expect(texts).toEqual([
      ['problem', 'Reminder by SMS not sent: the patient opted out of SMS. Tell them by phone.'],
      [
        'problem',
        'Invitation by e-mail not sent: the patient has no e-mail address on file. Add one, or tell them by phone.',
      ],
      [
        'problem',
        'Reminder 24 h before by e-mail not sent: the patient unsubscribed from e-mails. Tell them by phone.',
      ],
    ]);
  });

  it('tells a final failure apart from one still retried', () => {
    const texts = deliveryNotices(
      [
        d({ kind: 'cancelled', channel: 'email', state: 'failed', reason: 'smtp_5xx' }),
        d({ kind: 'invitation', channel: 'email', state: 'scheduled', reason: 'connection' }),
      ],
      NOW,
    ).map((n) => [n.tone, n.text]);
    expect(texts).toEqual([
      [
        'problem',
        'Cancellation notice by e-mail not sent: the mail server refused it. Check the address, or tell them by phone.',
      ],
      ['pending', 'Invitation by e-mail not accepted yet (connection); trying again.'],
    ]);
  });

  it('says an invitation waits for the patient link once it is overdue, not before', () => {
    const waiting = d({ kind: 'invitation', channel: 'email', state: 'scheduled' });
    expect(deliveryNotices([waiting], NOW).map((n) => n.text)).toEqual([
      'Invitation by e-mail waits for the patient link: issue it to send.',
    ]);
    expect(deliveryNotices([{ ...waiting, dueTime: new Date(NOW - 5_000).toISOString() }], NOW)).toEqual([]);
  });

  it('says nothing of a message sent, or not sent because the appointment moved, closed or passed', () => {
    const quiet = ['appointment_moved', 'appointment_closed', 'too_late', 'link_replaced'].map((reason) =>
      d({ state: 'suppressed', reason }),
    );
    expect(
      deliveryNotices([d({}), ...quiet, d({ state: 'scheduled', dueTime: '2030-01-02T11:00:00.000Z' })], NOW),
    ).toEqual([]);
  });
});
