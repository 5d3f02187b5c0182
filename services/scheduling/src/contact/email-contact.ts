/**
 * The EmailContact aggregate: whether an e-mail address still takes the clinic's non-essential messages (the
 * one-click unsubscribe of RFC 8058). Pure: no I/O, no Node builtins. Stream:
 * `scheduling.email_contact-<contactKey>`, the key a keyed hash of the address (contact-key.ts): the address, PHI,
 * is never in a stream name, an event or a URL.
 *
 *   (none) → EmailContactOptedOut
 *
 * What an opt-out stops (docs/adr/0015): invitations, reminders and the notices of new secure messages. What it
 * does not stop, because the patient needs it for a visit they already have: the passcode, and the notices
 * that a visit moved or was cancelled (every e-mail still carries the unsubscribe link and headers).
 */
import { ReminderKind } from '../notification/reminder';

export const EmailContactEventType = {
  OptedOut: 'haven.scheduling.v1.EmailContactOptedOut',
} as const;

export interface EmailContactOptedOut {
  readonly type: typeof EmailContactEventType.OptedOut;
  readonly data: {
    readonly contactKey: string;
    /** `one-click` (RFC 8058 POST from the mail client) or `page` (the confirm button of the link's page). */
    readonly via: 'one-click' | 'page';
    readonly at: string;
  };
}

export type EmailContactState =
  | { readonly status: 'none' }
  | { readonly status: 'opted_out'; readonly contactKey: string; readonly since: string };

export const initialEmailContactState: EmailContactState = { status: 'none' };

export function emailContactStream(contactKey: string): string {
  return `scheduling.email_contact-${contactKey}`;
}

/** Folds one event. Unknown types leave the state unchanged. */
export function evolveEmailContact(
  state: EmailContactState,
  event: { type: string; data: unknown },
): EmailContactState {
  if (event.type !== EmailContactEventType.OptedOut) return state;
  const data = event.data as EmailContactOptedOut['data'];
  return { status: 'opted_out', contactKey: data.contactKey, since: data.at };
}

export interface UnsubscribeEmail {
  readonly type: 'UnsubscribeEmail';
  readonly data: { readonly contactKey: string; readonly via: 'one-click' | 'page'; readonly now: Date };
}

/** Opts the address out; a repeat (a mail client that posts twice) records nothing. Never throws. */
export function decideEmailContact(
  command: UnsubscribeEmail,
  state: EmailContactState,
): EmailContactOptedOut[] {
  if (state.status === 'opted_out') return [];
  const { contactKey, via, now } = command.data;
  return [{ type: EmailContactEventType.OptedOut, data: { contactKey, via, at: now.toISOString() } }];
}

/** The kinds an e-mail opt-out does not stop: the patient needs them for a visit they already have. */
const ESSENTIAL: ReadonlySet<string> = new Set([
  ReminderKind.Passcode,
  ReminderKind.Rescheduled,
  ReminderKind.Cancelled,
]);

/** True when an opted-out address still gets a message of `kind`. */
export function isEssential(kind: string): boolean {
  return ESSENTIAL.has(kind);
}
