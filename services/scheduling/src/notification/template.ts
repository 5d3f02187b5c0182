/**
 * Message templates that cannot leak PHI: a fixed allow-list of fields, a linter that refuses anything else at
 * save time, and a renderer whose whole grammar is `{{ field }}` (docs/adr/0015-notification-outbox-and-templates.md).
 * Pure: no I/O.
 */
import { ValidationError, type FieldViolation } from '@haven/errors';
import { ReminderKind, TEMPLATE_KINDS, type TemplateKind } from './reminder';
import { TEMPLATE_FIELDS } from './template-fields';

/**
 * The only fields a template may name. Nothing about the patient (name, date of birth, reason, contact,
 * record number) is ever a field: the renderer cannot put it into a message because it never receives it.
 * `passcode` is allowed only in the passcode template, which in turn may not name the link (no message ever
 * carries both): see {@link fieldsOf}.
 */
export { TEMPLATE_FIELDS };
export type TemplateField = (typeof TEMPLATE_FIELDS)[number];
export type TemplateValues = Readonly<Record<TemplateField, string>>;

/** The fields a template of `kind` may name. */
export function fieldsOf(kind: TemplateKind): readonly TemplateField[] {
  return kind === ReminderKind.Passcode
    ? ['clinic_name', 'start_time', 'clinician_name', 'opt_out', 'passcode']
    : TEMPLATE_FIELDS.filter((f) => f !== 'passcode');
}

/** One kind of message in one language: e-mail subject and body, and the SMS text. */
export interface MessageTemplate {
  readonly kind: TemplateKind;
  readonly language: string;
  readonly subject: string;
  readonly body: string;
  readonly sms: string;
}

const TOKEN = /\{\{\s*([a-z_]+)\s*\}\}/g;
const MAX = { subject: 200, body: 4000, sms: 480 } as const;
const MAX_TEMPLATES = 16;

/** Free text that looks like PHI: each pattern with what it is, for the error. */
const PHI_PATTERNS: readonly { readonly pattern: RegExp; readonly what: string }[] = [
  { pattern: /[\w.+-]+@[\w-]+(\.[\w-]+)+/, what: 'an e-mail address' },
  {
    pattern: /\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}[./]\d{1,2}[./]\d{2,4}\b/,
    what: 'a date (a date of birth?)',
  },
  { pattern: /\b(date of birth|dob|born on|birthday)\b/i, what: 'a date of birth' },
  { pattern: /\b(mrn|medical record|patient (id|number))\b/i, what: 'a medical record number' },
  { pattern: /\b[A-Z]{0,4}\d{6,}\b/, what: 'a record-number-like number' },
  { pattern: /\+?\(?\d[\d\s().-]{6,}\d/, what: 'a phone number' },
  { pattern: /\b(diagnos\w*|reason for (the )?visit|symptom\w*|prescri\w*)\b/i, what: 'clinical wording' },
];

/** Problems of one text of a template (a subject, a body, an SMS text). */
function lintText(
  text: string,
  field: string,
  max: number,
  allowed: readonly TemplateField[],
): FieldViolation[] {
  const out: FieldViolation[] = [];
  const add = (description: string) => out.push({ field, description });
  // Too long: said at once, and no pattern runs over it (a regular expression over megabytes is a DoS).
  if (text.length > max) {
    add(`must be at most ${max} characters`);
    return out;
  }
  if (text.trim() === '') add('is required');
  // Every `{{ name }}` must name an allowed field; anything else with braces is refused outright.
  for (const m of text.matchAll(TOKEN)) {
    const name = m[1] ?? '';
    if (name === 'constructor' || name === '__proto__' || name === 'prototype') {
      add(`{{${name}}} is template injection (a JavaScript built-in), not a field`);
    } else if (name === 'passcode' && !allowed.includes(name)) {
      add('names the field "passcode", which only the passcode message may carry');
    } else if (!(allowed as readonly string[]).includes(name)) {
      add(`names the field "${name}", which this message may not carry; allowed: ${allowed.join(', ')}`);
    }
  }
  const rest = text.replace(TOKEN, ' ');
  if (/\{{3}|\}{3}/.test(text) || /[{}]{2}|\$\{|\{%|<%/.test(rest)) {
    add('has braces that are not a plain {{field}} (nested, triple, section, helper or path expressions)');
  } else if (/[{}]/.test(rest)) {
    add('has a stray brace; only {{field}} is allowed');
  }
  for (const { pattern, what } of PHI_PATTERNS) {
    if (pattern.test(rest)) add(`contains free text that looks like ${what}; messages carry no PHI`);
  }
  if (field.endsWith('subject') && /[\r\n]/.test(text)) add('must be one line');
  return out;
}

/**
 * Lints templates at save time. Throws ValidationError listing every problem (field `templates[i].<part>`):
 * a field outside {@link TEMPLATE_FIELDS}, braces that are not a plain `{{field}}` (nested braces,
 * `{{constructor}}`, `{{__proto__}}`, sections, helpers, paths), free text that looks like PHI (dates,
 * record numbers, e-mail addresses, phone numbers), a missing `{{opt_out}}`, an unknown kind, a bad language.
 */
export function lintTemplates(templates: readonly MessageTemplate[]): void {
  const violations: FieldViolation[] = [];
  const kinds = new Set<string>(TEMPLATE_KINDS);
  if (templates.length > MAX_TEMPLATES) {
    throw new ValidationError([
      { field: 'templates', description: `must be at most ${MAX_TEMPLATES} templates` },
    ]);
  }
  templates.forEach((t, i) => {
    const at = `templates[${i}]`;
    if (!kinds.has(t.kind))
      violations.push({ field: `${at}.kind`, description: `must be one of ${[...kinds].join(', ')}` });
    if (!/^[a-z]{2,3}(-[A-Z]{2})?$/.test(t.language)) {
      violations.push({ field: `${at}.language`, description: 'must be a language tag such as en or de-CH' });
    }
    const allowed = kinds.has(t.kind) ? fieldsOf(t.kind) : fieldsOf(ReminderKind.Invitation);
    // A passcode in a subject line shows in mailbox lists and on lock screens: the body only.
    violations.push(
      ...lintText(
        t.subject,
        `${at}.subject`,
        MAX.subject,
        allowed.filter((f) => f !== 'passcode'),
      ),
    );
    violations.push(...lintText(t.body, `${at}.body`, MAX.body, allowed));
    violations.push(...lintText(t.sms, `${at}.sms`, MAX.sms, allowed));
    for (const part of ['body', 'sms'] as const) {
      if (!/\{\{\s*opt_out\s*\}\}/.test(t[part])) {
        violations.push({
          field: `${at}.${part}`,
          description: 'must include {{opt_out}} (the opt-out wording)',
        });
      }
      if (t.kind === ReminderKind.Passcode && !/\{\{\s*passcode\s*\}\}/.test(t[part])) {
        violations.push({ field: `${at}.${part}`, description: 'must include {{passcode}}' });
      }
    }
  });
  if (violations.length > 0) throw new ValidationError(violations);
}

/**
 * Renders one text: each `{{ field }}` becomes its value (line breaks removed from values); nothing else is
 * interpreted. Only linted templates reach it; a name outside the allow-list renders as nothing.
 */
export function renderText(text: string, values: TemplateValues): string {
  return text.replace(TOKEN, (_all, name: string) =>
    (TEMPLATE_FIELDS as readonly string[]).includes(name)
      ? values[name as TemplateField].replace(/[\r\n]+/g, ' ')
      : '',
  );
}

/** A rendered message. */
export interface RenderedMessage {
  readonly subject: string;
  readonly body: string;
  readonly sms: string;
}

/**
 * Renders a template with the values its kind allows (any other field renders as nothing: the passcode only
 * ever reaches the passcode template).
 */
export function renderMessage(template: MessageTemplate, values: TemplateValues): RenderedMessage {
  const allowed = new Set<string>(fieldsOf(template.kind));
  const own = Object.fromEntries(
    TEMPLATE_FIELDS.map((f) => [f, allowed.has(f) ? values[f] : '']),
  ) as TemplateValues;
  return {
    subject: renderText(template.subject, { ...own, passcode: '' }),
    body: renderText(template.body, own),
    sms: renderText(template.sms, own),
  };
}

/**
 * Renders a message that does not carry the link (a reminder by the passcode's channel): in the e-mail text a
 * line naming `{{join_link}}` becomes `instead.email` as a whole (its label, "Join here:", would lead nowhere);
 * in the SMS text `{{join_link}}` becomes `instead.sms`; in the subject, nothing.
 */
export function renderWithoutLink(
  template: MessageTemplate,
  values: TemplateValues,
  instead: { readonly email: string; readonly sms: string },
): RenderedMessage {
  const namesLink = (line: string) => [...line.matchAll(TOKEN)].some((m) => m[1] === 'join_link');
  const body = template.body
    .split('\n')
    .map((line) => (namesLink(line) ? instead.email : line))
    .join('\n');
  const rendered = renderMessage({ ...template, body }, { ...values, join_link: '' });
  return { ...rendered, sms: renderText(template.sms, { ...values, join_link: instead.sms, passcode: '' }) };
}

const OPT_OUT_EN = 'To stop these messages, reply STOP or tell the clinic.';

/** The built-in templates (English), used until a clinic saves its own. */
export const DEFAULT_TEMPLATES: readonly MessageTemplate[] = [
  {
    kind: ReminderKind.Invitation,
    language: 'en',
    subject: 'Your video visit with {{clinic_name}}',
    body:
      'You have a video visit with {{clinician_name}} at {{clinic_name}} on {{start_time}}.\n\n' +
      'Join here: {{join_link}}\n{{passcode_note}}\n\n{{opt_out}}\n',
    sms: '{{clinic_name}}: video visit with {{clinician_name}} on {{start_time}}. {{join_link}} {{opt_out}}',
  },
  {
    kind: ReminderKind.Rescheduled,
    language: 'en',
    subject: 'Your video visit with {{clinic_name}} has moved',
    body:
      'Your video visit with {{clinician_name}} at {{clinic_name}} is now on {{start_time}}.\n\n' +
      'Join here: {{join_link}}\n{{passcode_note}}\n\n{{opt_out}}\n',
    sms: '{{clinic_name}}: your video visit moved to {{start_time}}. {{join_link}} {{opt_out}}',
  },
  {
    kind: ReminderKind.Cancelled,
    language: 'en',
    subject: 'Your video visit with {{clinic_name}} was cancelled',
    body:
      'Your video visit with {{clinician_name}} at {{clinic_name}} on {{start_time}} was cancelled.\n' +
      'Please contact the clinic to book a new time.\n\n{{opt_out}}\n',
    sms: '{{clinic_name}}: your video visit on {{start_time}} was cancelled. {{opt_out}}',
  },
  {
    kind: ReminderKind.Reminder,
    language: 'en',
    subject: 'Reminder: video visit with {{clinic_name}}',
    body:
      'Reminder: your video visit with {{clinician_name}} at {{clinic_name}} is on {{start_time}}.\n\n' +
      'Join here: {{join_link}}\n{{passcode_note}}\n\n{{opt_out}}\n',
    sms: '{{clinic_name}} reminder: video visit {{start_time}}. {{join_link}} {{opt_out}}',
  },
  {
    // By the passcode's channel, alone: the link went by the other one (the e-mail text is the passcode by
    // e-mail, the link came by SMS; the SMS text the other way round).
    kind: ReminderKind.Passcode,
    language: 'en',
    subject: 'Your passcode for the video visit with {{clinic_name}}',
    body:
      'Your passcode for the video visit with {{clinic_name}} on {{start_time}}: {{passcode}}\n\n' +
      'The link to join comes separately by text message.\n\n{{opt_out}}\n',
    sms:
      'Your passcode for the video visit with {{clinic_name}} on {{start_time}}: {{passcode}}. ' +
      'The link comes by e-mail. {{opt_out}}',
  },
];

/** What the link messages say about the passcode, by how it reaches the patient. */
export const PASSCODE_NOTES = {
  'front-desk': 'You need the passcode the clinic gave you to join.',
  sms: 'You need a passcode to join: it comes in a separate text message.',
  email: 'You need a passcode to join: it comes in a separate e-mail.',
} as const;

/** The default opt-out wording (English). */
export const DEFAULT_OPT_OUT = OPT_OUT_EN;

/** The template for a kind and language, falling back to English, then to the built-in ones. */
export function templateFor(
  templates: readonly MessageTemplate[],
  kind: TemplateKind,
  language: string,
): MessageTemplate {
  const pick = (list: readonly MessageTemplate[], lang: string) =>
    list.find((t) => t.kind === kind && t.language === lang);
  const found =
    pick(templates, language) ??
    pick(templates, 'en') ??
    pick(DEFAULT_TEMPLATES, language) ??
    pick(DEFAULT_TEMPLATES, 'en');
  if (!found) throw new Error(`no template for ${kind}`);
  return found;
}

/** The event that saves a clinic's templates in one language (linted before; no PHI). */
export const MESSAGE_TEMPLATES_SAVED = 'haven.scheduling.v1.MessageTemplatesSaved';

/** The stream of a language's templates. */
export function templateStream(language: string): string {
  return `scheduling.message_templates-${language}`;
}

/**
 * The clinic's saved templates by language, folded from MessageTemplatesSaved events; a saved set that no
 * longer passes the linter (a stricter linter after an upgrade) is ignored, so the built-in ones apply.
 */
export class TemplateBook {
  readonly #byLanguage = new Map<string, readonly MessageTemplate[]>();
  /** {@link all}'s answer until the next change (the sender asks for every message). */
  #all: readonly MessageTemplate[] | undefined;

  /** Folds one event (other types are ignored). */
  apply(event: { readonly type: string; readonly data: Record<string, unknown> }): void {
    if (event.type !== MESSAGE_TEMPLATES_SAVED) return;
    const language = event.data['language'];
    const templates = event.data['templates'];
    if (typeof language !== 'string' || !Array.isArray(templates)) return;
    this.#all = undefined;
    try {
      lintTemplates(templates as MessageTemplate[]);
      this.#byLanguage.set(language, templates as MessageTemplate[]);
    } catch {
      this.#byLanguage.delete(language);
    }
  }

  /** Every saved template (all languages), for {@link templateFor}. */
  all(): readonly MessageTemplate[] {
    return (this.#all ??= [...this.#byLanguage.values()].flat());
  }
}
