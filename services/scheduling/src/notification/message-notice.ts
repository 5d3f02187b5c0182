/**
 * The notice of a new secure message: when the care team posts in a thread, the patient gets "You have a new
 * message from <clinic>" and the link to their messages, by every channel the outbox sends by (e-mail or SMS
 * per contact; an SMS STOP is respected like for reminders). Never the text, the author or the topic: the
 * notice goes through the same outbox (ReminderScheduled → ReminderSending → ReminderSent) as the reminders.
 * Pure: no I/O.
 */
import { ReminderKind, type ReminderChannel, type ReminderPlan } from './reminder';
import { reminderIdOf } from './decide';
import type { RenderedMessage } from './template';

/** The facts of a posted message the notice is planned from (ids and times only). */
export interface PostedMessage {
  readonly threadId: string;
  readonly messageId: string;
  readonly author: { readonly kind: 'patient' | 'staff' };
  readonly postedAt: string;
}

/**
 * The notices a posted message plans: one per channel, due at once, for a message of the care team (a patient's
 * own message notifies nobody by e-mail: the staff app shows it). `pending` says whether the thread already has
 * a notice not sent yet on that channel: the patient then gets one notice for several messages.
 */
export function planMessageNotices(
  posted: PostedMessage,
  patientId: string,
  channels: readonly ReminderChannel[],
  pending: (channel: ReminderChannel) => boolean,
): ReminderPlan[] {
  if (posted.author.kind !== 'staff') return [];
  return channels
    .filter((channel) => !pending(channel))
    .map((channel) => {
      const plan = {
        appointmentId: '',
        patientId,
        clinicianId: '',
        kind: ReminderKind.Message,
        channel,
        startTime: posted.postedAt,
        threadId: posted.threadId,
        secureMessageId: posted.messageId,
      };
      return { ...plan, reminderId: reminderIdOf(plan), dueAt: posted.postedAt };
    });
}

/** The notice (fixed wording): the clinic's name and the link, nothing of the message. */
export function messageNotice(clinicName: string, link: string, optOut: string): RenderedMessage {
  const line = `You have a new message from ${clinicName}.`;
  return {
    subject: `You have a new message from ${clinicName}`,
    body: `${line}

Read it in your secure messages: ${link}
You need the passcode the clinic gave you for your visit.

${optOut}
`,
    sms: `${line} Read it here: ${link} ${optOut}`,
  };
}
