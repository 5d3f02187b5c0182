import { messageNotice, planMessageNotices } from './message-notice';

const posted = (kind: 'patient' | 'staff') => ({
  threadId: 't-1',
  messageId: 'm-1',
  author: { kind },
  postedAt: '2026-12-07T09:00:00.000Z',
});

describe('planning the notice of a secure message', () => {
  it('plans one notice per channel, due at once, for a message of the care team', () => {
    const plans = planMessageNotices(posted('staff'), 'pat-1', ['email', 'sms'], () => false);
    expect(plans).toEqual([
      expect.objectContaining({
        reminderId: 't-1_message_m-1_email',
        kind: 'message',
        channel: 'email',
        patientId: 'pat-1',
        threadId: 't-1',
        secureMessageId: 'm-1',
        dueAt: '2026-12-07T09:00:00.000Z',
      }),
      expect.objectContaining({ reminderId: 't-1_message_m-1_sms', channel: 'sms' }),
    ]);
  });
  it('plans nothing for the patient’s own message', () => {
    expect(planMessageNotices(posted('patient'), 'pat-1', ['email'], () => false)).toEqual([]);
  });
  it('plans nothing on a channel whose notice for the thread is still pending', () => {
    const plans = planMessageNotices(posted('staff'), 'pat-1', ['email', 'sms'], (c) => c === 'email');
    expect(plans.map((p) => p.channel)).toEqual(['sms']);
  });
});

describe('the notice', () => {
  it('says only who wrote and where to read it', () => {
    const notice = messageNotice('Lakeside', 'https://x.test/messages#tok', 'Reply STOP to opt out.');
    expect(notice.subject).toBe('You have a new message from Lakeside');
    expect(notice.body).toContain('https://x.test/messages#tok');
    expect(notice.sms).toBe(
      'You have a new message from Lakeside. Read it here: https://x.test/messages#tok Reply STOP to opt out.',
    );
  });
});
