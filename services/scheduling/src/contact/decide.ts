/**
 * The SmsContact decider: an inbound text is a keyword or nothing. Twilio's standard opt-out keywords (STOP,
 * STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT) opt the number out; START, YES, UNSTOP opt it back
 * in; anything else (HELP, a sentence) changes nothing and is not stored. Repeats change nothing, so a provider
 * that delivers the same webhook twice records one event. Pure.
 */
import {
  SmsContactEventType,
  type ContactSource,
  type SmsContactEvent,
  type SmsContactState,
} from './contact';

const OPT_OUT = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT']);
const OPT_IN = new Set(['START', 'YES', 'UNSTOP']);

/** What an inbound text body means: the keyword (upper-case) and its effect, or undefined for anything else. */
export function keywordOf(body: string): { keyword: string; effect: 'opt_out' | 'opt_in' } | undefined {
  const word = body
    .trim()
    .replace(/[.!]+$/, '')
    .toUpperCase();
  if (OPT_OUT.has(word)) return { keyword: word, effect: 'opt_out' };
  if (OPT_IN.has(word)) return { keyword: word, effect: 'opt_in' };
  return undefined;
}

export interface ReceiveSmsReply {
  readonly type: 'ReceiveSmsReply';
  readonly data: {
    readonly contactKey: string;
    readonly body: string;
    readonly source: ContactSource;
    readonly now: Date;
  };
}

export type SmsContactCommand = ReceiveSmsReply;

/** Decides what an inbound text does to the number's subscription. Never throws. */
export function decideSmsContact(command: SmsContactCommand, state: SmsContactState): SmsContactEvent[] {
  const meaning = keywordOf(command.data.body);
  if (!meaning) return [];
  const { contactKey, source, now } = command.data;
  const data = { contactKey, keyword: meaning.keyword, source, at: now.toISOString() };
  if (meaning.effect === 'opt_out') {
    return state.status === 'opted_out' ? [] : [{ type: SmsContactEventType.OptedOut, data }];
  }
  return state.status === 'opted_out' ? [{ type: SmsContactEventType.OptedIn, data }] : [];
}
