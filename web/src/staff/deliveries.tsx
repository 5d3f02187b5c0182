/**
 * What became of the messages to the patient about an appointment (GET /api/appointments/:id/deliveries: codes
 * and times, no PHI), as the lines the front desk has to act on: a message not sent because the patient opted
 * out or has no address or number for the channel, one that failed for good, one still being retried, and an
 * invitation that waits for the patient link. Messages sent, or not sent for an expected reason (the appointment
 * moved or was cancelled, its time passed), say nothing.
 */
import { useEffect, useState } from 'react';
import { api } from '../api/client';
import { guarded, useSession } from './session';
import type {
  DeliveryListView,
  DeliveryView as Delivery,
} from '../../../services/gateway/src/appointment-view';

/** One message to the patient, as the gateway answers it. */
export type { Delivery };

/** A line for the front desk: `problem` when the patient did not get it, `pending` while it may still go. */
export interface DeliveryNotice {
  readonly id: string;
  readonly tone: 'problem' | 'pending';
  readonly text: string;
}

/** How often the day view reads the appointments' messages again. */
const DELIVERY_POLL_MS = 30_000;
/** An invitation still unsent this long after it was due waits for something (the patient link). */
const WAITING_AFTER_MS = 60_000;

function kindLabel(d: Delivery): string {
  switch (d.kind) {
    case 'invitation':
      return 'Invitation';
    case 'rescheduled':
      return 'Change notice';
    case 'cancelled':
      return 'Cancellation notice';
    case 'reminder':
      return d.offsetMinutes > 0 && d.offsetMinutes % 60 === 0
        ? `Reminder ${String(d.offsetMinutes / 60)} h before`
        : d.offsetMinutes > 0
          ? `Reminder ${String(d.offsetMinutes)} min before`
          : 'Reminder';
    case 'passcode':
      return 'Passcode message';
    case 'messages_link':
      return 'New-message notice';
    default:
      return 'Message';
  }
}

const channelLabel = (channel: string) => (channel === 'sms' ? 'SMS' : 'e-mail');

/** Why a message did not go, and what the front desk can do; undefined when there is nothing to do. */
function whyNot(d: Delivery): string | undefined {
  const sms = d.channel === 'sms';
  if (d.state === 'suppressed') {
    switch (d.reason) {
      case 'opted_out':
        return sms
          ? 'the patient opted out of SMS. Tell them by phone.'
          : 'the patient unsubscribed from e-mails. Tell them by phone.';
      case 'no_contact':
        return sms
          ? 'the patient has no mobile number on file. Add one, or tell them by phone.'
          : 'the patient has no e-mail address on file. Add one, or tell them by phone.';
      case 'no_link':
        return 'there was no patient link to send. Issue one, or read the passcode out.';
      case 'patient_erased':
        return 'the patient’s data was erased.';
      default:
        return undefined; // moved, cancelled, too late, link replaced: nothing to tell
    }
  }
  if (d.state === 'failed') {
    return d.reason === 'smtp_5xx' || d.reason === 'rejected'
      ? `the ${sms ? 'SMS provider' : 'mail server'} refused it. Check the ${sms ? 'number' : 'address'}, or tell them by phone.`
      : `it could not be delivered (${d.reason || 'unknown error'}). Tell them by phone.`;
  }
  return undefined;
}

/** The lines to show for an appointment's messages, in their order, at `now`. */
export function deliveryNotices(deliveries: readonly Delivery[], now: number): DeliveryNotice[] {
  const notices: DeliveryNotice[] = [];
  for (const d of deliveries) {
    const what = `${kindLabel(d)} by ${channelLabel(d.channel)}`;
    const why = whyNot(d);
    if (why !== undefined) {
      notices.push({ id: d.id, tone: 'problem', text: `${what} not sent: ${why}` });
    } else if (d.state === 'scheduled' && d.reason !== '') {
      notices.push({
        id: d.id,
        tone: 'pending',
        text: `${what} not accepted yet (${d.reason}); trying again.`,
      });
    } else if (
      d.state === 'scheduled' &&
      (d.kind === 'invitation' || d.kind === 'rescheduled') &&
      d.dueTime !== null &&
      Date.parse(d.dueTime) <= now - WAITING_AFTER_MS
    ) {
      notices.push({
        id: d.id,
        tone: 'pending',
        text: `${what} waits for the patient link: issue it to send.`,
      });
    }
  }
  return notices;
}

/** The messages of the listed appointments by appointment id, and when they were read (ms). */
export interface DeliveriesRead {
  readonly byAppointment: ReadonlyMap<string, readonly Delivery[]>;
  readonly readAt: number;
}

/**
 * The messages of the listed appointments, read now, whenever the list changes and every
 * {@link DELIVERY_POLL_MS}.
 */
export function useDeliveries(appointmentIds: readonly string[]): DeliveriesRead {
  const session = useSession();
  const [read, setRead] = useState<DeliveriesRead>({ byAppointment: new Map(), readAt: 0 });
  const key = appointmentIds.join(',');
  useEffect(() => {
    let live = true;
    const ids = key === '' ? [] : key.split(',');
    const read = () =>
      void Promise.all(
        ids.map(async (id) => {
          const r = await guarded(session, () =>
            api<DeliveryListView>('GET', `/api/appointments/${encodeURIComponent(id)}/deliveries`),
          );
          return [id, r?.deliveries ?? []] as const;
        }),
      ).then((entries) => {
        if (live) setRead({ byAppointment: new Map(entries), readAt: Date.now() });
      });
    read();
    const timer = setInterval(read, DELIVERY_POLL_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [session, key]);
  return read;
}

/** The lines of one appointment's row as of `now` (nothing when there is nothing to do). */
export function DeliveryNotices({
  deliveries,
  now,
}: {
  deliveries: readonly Delivery[] | undefined;
  now: number;
}) {
  const notices = deliveryNotices(deliveries ?? [], now);
  if (notices.length === 0) return null;
  return (
    <ul className="delivery-notices" aria-label="Messages to the patient">
      {notices.map((n) => (
        <li key={n.id} className={`delivery-notice delivery-${n.tone}`}>
          {n.text}
        </li>
      ))}
    </ul>
  );
}
