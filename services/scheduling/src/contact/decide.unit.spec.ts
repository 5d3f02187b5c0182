import { given } from '@haven/testing';
import {
  SmsContactEventType,
  evolveSmsContact,
  initialSmsContactState,
  type SmsContactEvent,
} from './contact';
import { decideSmsContact, keywordOf, type SmsContactCommand } from './decide';

const spec = { decide: decideSmsContact, evolve: evolveSmsContact, initialState: initialSmsContactState };
const now = new Date('2026-12-01T10:00:00Z');
const reply = (body: string): SmsContactCommand => ({
  type: 'ReceiveSmsReply',
  data: { contactKey: 'k1', body, source: 'twilio', now },
});
const optedOut: SmsContactEvent = {
  type: SmsContactEventType.OptedOut,
  data: { contactKey: 'k1', keyword: 'STOP', source: 'twilio', at: '2026-11-30T10:00:00.000Z' },
};

describe('when the number never replied', () => {
  it('opts it out on STOP, keeping only the keyword', () =>
    given(spec)
      .when(reply(' stop. '))
      .then([
        {
          type: SmsContactEventType.OptedOut,
          data: { contactKey: 'k1', keyword: 'STOP', source: 'twilio', at: now.toISOString() },
        },
      ]));
  it('records nothing for START (it was never opted out)', () => given(spec).when(reply('START')).then([]));
  it('records nothing for any other text (never stored)', () =>
    given(spec).when(reply('please call me about my results')).then([]));
});

describe('when the number is opted out', () => {
  it('records a repeated STOP only once', () => given(spec, [optedOut]).when(reply('UNSUBSCRIBE')).then([]));
  it('opts it back in on START', () =>
    given(spec, [optedOut])
      .when(reply('start'))
      .then([
        {
          type: SmsContactEventType.OptedIn,
          data: { contactKey: 'k1', keyword: 'START', source: 'twilio', at: now.toISOString() },
        },
      ]));
  it('stays opted out on HELP', () => given(spec, [optedOut]).when(reply('HELP')).then([]));
});

describe('keywordOf', () => {
  it.each([
    ['STOP', 'opt_out'],
    ['stopall', 'opt_out'],
    ['Cancel', 'opt_out'],
    ['quit!', 'opt_out'],
    ['yes', 'opt_in'],
    ['UNSTOP', 'opt_in'],
  ])('reads %s as %s', (body, effect) => expect(keywordOf(body)?.effect).toBe(effect));
  it.each(['STOP IT NOW', 'stopp', '', 'HELP'])('ignores %j', (body) =>
    expect(keywordOf(body)).toBeUndefined(),
  );
});
