import { ValidationError } from '@haven/errors';
import {
  DEFAULT_TEMPLATES,
  lintTemplates,
  renderMessage,
  renderText,
  renderWithoutLink,
  templateFor,
  type MessageTemplate,
} from './template';

const base: MessageTemplate = {
  kind: 'invitation',
  language: 'en',
  subject: 'Your visit with {{clinic_name}}',
  body: 'See {{clinician_name}} on {{start_time}}: {{join_link}}\n{{opt_out}}',
  sms: '{{clinic_name}} {{start_time}} {{join_link}} {{opt_out}}',
};

function problems(over: Partial<MessageTemplate>): string[] {
  try {
    lintTemplates([{ ...base, ...over }]);
    return [];
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return error.violations.map((v) => `${v.field}: ${v.description}`);
  }
}

describe('the template linter', () => {
  it('accepts the built-in templates and a plain one', () => {
    expect(() => lintTemplates(DEFAULT_TEMPLATES)).not.toThrow();
    expect(problems({})).toEqual([]);
  });

  it.each([
    [
      'a field outside the allow-list: reason',
      { body: 'Reason: {{reason}} {{opt_out}}' },
      /"reason".*allowed: clinic_name/,
    ],
    ['a field outside the allow-list: diagnosis', { subject: '{{diagnosis}}' }, /"diagnosis"/],
    [
      'a field outside the allow-list: date of birth',
      { sms: '{{date_of_birth}} {{opt_out}}' },
      /"date_of_birth"/,
    ],
    ['a field outside the allow-list: notes', { body: '{{ notes }} {{opt_out}}' }, /"notes"/],
    ['the patient name', { body: 'Dear {{patient_name}} {{opt_out}}' }, /"patient_name"/],
    ['{{constructor}}', { body: '{{constructor}} {{opt_out}}' }, /template injection/],
    ['{{__proto__}}', { subject: 'x {{__proto__}}' }, /template injection/],
    ['nested braces', { body: '{{ {{clinic_name}} }} {{opt_out}}' }, /braces that are not a plain/],
    ['triple braces', { body: '{{{clinic_name}}} {{opt_out}}' }, /braces that are not a plain/],
    ['a section', { body: '{{#clinic_name}}x{{/clinic_name}} {{opt_out}}' }, /braces that are not a plain/],
    ['a path expression', { body: '{{clinic_name.constructor}} {{opt_out}}' }, /braces that are not a plain/],
    ['a helper call', { body: '{{lookup this "x"}} {{opt_out}}' }, /braces that are not a plain/],
    ['an upper-case field', { body: '{{Reason}} {{opt_out}}' }, /braces that are not a plain/],
    ['a JavaScript template literal', { body: '${process.env} {{opt_out}}' }, /braces/],
    ['a stray brace', { body: 'x } {{opt_out}}' }, /stray brace/],
    ['a date of birth in free text', { body: 'Born 1971-03-14 {{opt_out}}' }, /a date/],
    ['a date in US form', { sms: 'on 3/14/1971 {{opt_out}}' }, /a date/],
    ['the words date of birth', { body: 'Bring your date of birth {{opt_out}}' }, /date of birth/],
    ['an MRN', { body: 'MRN 12 {{opt_out}}' }, /medical record number/],
    ['an MRN-like number', { body: 'Ref A1234567 {{opt_out}}' }, /record-number-like/],
    ['an e-mail address', { body: 'Write to jane.doe@example.org {{opt_out}}' }, /e-mail address/],
    ['a phone number', { sms: 'Call +1 (555) 123-4567 {{opt_out}}' }, /phone number/],
    ['clinical wording', { body: 'About your diagnosis {{opt_out}}' }, /clinical wording/],
    ['no opt-out wording', { sms: '{{clinic_name}} {{join_link}}' }, /must include \{\{opt_out\}\}/],
    ['an empty subject', { subject: ' ' }, /is required/],
    ['a two-line subject', { subject: 'a\nb' }, /one line/],
    ['an unknown kind', { kind: 'marketing' as MessageTemplate['kind'] }, /kind: must be one of/],
    ['a bad language', { language: 'english' }, /language tag/],
    ['an oversized SMS', { sms: `${'x'.repeat(481)} {{opt_out}}` }, /at most 480/],
  ])('refuses %s, naming the part', (_name, over, expected) => {
    const found = problems(over);
    expect(found.join('\n')).toMatch(expected);
    expect(found.every((p) => /^templates\[0\]\.(subject|body|sms|kind|language): /.test(p))).toBe(true);
  });
  it('refuses an oversized text at once, without running the patterns over it', () => {
    const started = Date.now();
    expect(problems({ body: `${'a'.repeat(2_000_000)} {{opt_out}}` })).toEqual([
      'templates[0].body: must be at most 4000 characters',
    ]);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
  it('refuses more than 16 templates', () =>
    expect(() => lintTemplates(Array.from({ length: 17 }, () => base))).toThrow(/at most 16 templates/));
});

describe('the renderer', () => {
  const values = {
    clinic_name: 'Lakeside',
    start_time: 'Thu 3 Dec 2026 10:00–10:30 (UTC, UTC)',
    clinician_name: 'Dr Who',
    join_link: 'https://x/join#t',
    passcode_note: '',
    opt_out: 'Reply STOP.',
    passcode: '',
  } as const;
  it('fills the allowed fields and nothing else', () =>
    expect(renderText('{{ clinic_name }}/{{clinician_name}}/{{other}}', values)).toBe('Lakeside/Dr Who/'));
  it('cannot reach the prototype', () => expect(renderText('{{constructor}}{{__proto__}}', values)).toBe(''));
  it('keeps values on one line (no header injection through a value)', () =>
    expect(renderMessage(base, { ...values, clinic_name: 'A\r\nBcc: x@y' }).subject).toBe(
      'Your visit with A Bcc: x@y',
    ));
});

describe('the passcode template', () => {
  const values = {
    clinic_name: 'Lakeside',
    start_time: 'Thu 3 Dec 2026 10:00',
    clinician_name: 'Dr Who',
    join_link: 'https://visits.example/join#tok',
    passcode_note: 'You need a passcode.',
    opt_out: 'Reply STOP.',
    passcode: '48213377',
  } as const;
  const passcode = templateFor(DEFAULT_TEMPLATES, 'passcode', 'en');

  it('carries the passcode and says where the link comes, with no link', () => {
    const m = renderMessage(passcode, values);
    for (const text of [m.subject, m.body, m.sms]) expect(text).not.toMatch(/https?:|join#/);
    expect(m.sms).toContain('48213377');
    expect(m.sms).toContain('The link comes by e-mail');
    expect(m.body).toContain('48213377');
    expect(m.body).toContain('by text message');
    expect(m.body).toContain('Reply STOP.');
    expect(m.subject).not.toContain('48213377');
  });

  it('is the only template the passcode reaches, even one that names it unlinted', () => {
    const sneaky = { ...base, body: '{{passcode}} {{join_link}} {{opt_out}}' };
    expect(renderMessage(sneaky, values).body).toBe(' https://visits.example/join#tok Reply STOP.');
    expect(renderMessage({ ...passcode, body: '{{join_link}}{{passcode}}' }, values).body).toBe('48213377');
  });

  it.each([
    ['the passcode in another kind', { body: 'Code {{passcode}} {{opt_out}}' }, /only the passcode message/],
    [
      'the link in the passcode template',
      { kind: 'passcode', body: '{{passcode}} {{join_link}} {{opt_out}}', sms: '{{passcode}} {{opt_out}}' },
      /body: names the field "join_link"/,
    ],
    [
      'the passcode in a subject',
      {
        kind: 'passcode',
        subject: 'Code {{passcode}}',
        body: '{{passcode}} {{opt_out}}',
        sms: '{{passcode}} {{opt_out}}',
      },
      /subject: names the field "passcode"/,
    ],
    [
      'a passcode template without the passcode',
      { kind: 'passcode', body: 'Hello {{opt_out}}', sms: '{{passcode}} {{opt_out}}' },
      /body: must include \{\{passcode\}\}/,
    ],
    [
      'PHI-like free text in the passcode template',
      {
        kind: 'passcode',
        body: '{{passcode}} born on 1970-01-01 {{opt_out}}',
        sms: '{{passcode}} {{opt_out}}',
      },
      /looks like a date/,
    ],
  ] as const)('refuses %s', (_what, over, expected) => {
    expect(problems(over as Partial<MessageTemplate>).join('\n')).toMatch(expected);
  });
});

describe('a message without the link (a reminder by the passcode channel)', () => {
  it('replaces the link line of the e-mail as a whole, and the link in the SMS', () => {
    const reminder = templateFor(DEFAULT_TEMPLATES, 'reminder', 'en');
    const m = renderWithoutLink(
      reminder,
      {
        clinic_name: 'Lakeside',
        start_time: 'Thu 3 Dec 2026 10:00',
        clinician_name: 'Dr Who',
        join_link: '',
        passcode_note: '',
        opt_out: 'Reply STOP.',
        passcode: '',
      },
      { email: 'Your join link came by text message.', sms: 'Your join link came by e-mail.' },
    );
    expect(m.body).toContain('\nYour join link came by text message.\n');
    expect(m.body).not.toContain('Join here');
    expect(m.sms).toContain('Your join link came by e-mail.');
  });
});
