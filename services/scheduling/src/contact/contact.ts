/**
 * The SmsContact aggregate: whether a phone number still takes text messages from the clinic (STOP replies).
 * Pure: no I/O, no Node builtins. Stream: `scheduling.sms_contact-<contactKey>`, where the key is a keyed hash
 * of the E.164 number (contact-key.ts): the number itself, PHI, is never in a stream name or an event.
 *
 *   (none) → SmsContactOptedOut ⇄ SmsContactOptedIn
 */

export const SmsContactEventType = {
  OptedOut: 'haven.scheduling.v1.SmsContactOptedOut',
  OptedIn: 'haven.scheduling.v1.SmsContactOptedIn',
} as const;

/** Where an opt-out or opt-in came from (fixed codes). */
export const ContactSource = { Twilio: 'twilio', Webhook: 'webhook' } as const;
export type ContactSource = (typeof ContactSource)[keyof typeof ContactSource];

export interface SmsContactOptedOut {
  readonly type: typeof SmsContactEventType.OptedOut;
  readonly data: {
    readonly contactKey: string;
    /** The keyword the patient sent, upper-cased (`STOP`, `UNSUBSCRIBE`…): a fixed word, never free text. */
    readonly keyword: string;
    readonly source: ContactSource;
    readonly at: string;
  };
}

export interface SmsContactOptedIn {
  readonly type: typeof SmsContactEventType.OptedIn;
  readonly data: {
    readonly contactKey: string;
    readonly keyword: string;
    readonly source: ContactSource;
    readonly at: string;
  };
}

export type SmsContactEvent = SmsContactOptedOut | SmsContactOptedIn;

export type SmsContactState =
  | { readonly status: 'none' }
  | { readonly status: 'opted_out' | 'subscribed'; readonly contactKey: string; readonly since: string };

export const initialSmsContactState: SmsContactState = { status: 'none' };

export function smsContactStream(contactKey: string): string {
  return `scheduling.sms_contact-${contactKey}`;
}

/** Folds one event. Unknown types leave the state unchanged. */
export function evolveSmsContact(
  state: SmsContactState,
  event: { type: string; data: unknown },
): SmsContactState {
  const e = event as SmsContactEvent;
  switch (e.type) {
    case SmsContactEventType.OptedOut:
      return { status: 'opted_out', contactKey: e.data.contactKey, since: e.data.at };
    case SmsContactEventType.OptedIn:
      return { status: 'subscribed', contactKey: e.data.contactKey, since: e.data.at };
    default:
      return state;
  }
}

/** True when the number said STOP and did not say START since. */
export function isOptedOut(state: SmsContactState): boolean {
  return state.status === 'opted_out';
}
