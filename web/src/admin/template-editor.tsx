/**
 * The template editor: the clinic's patient messages per language and kind (invitation, moved, cancelled,
 * reminder, passcode), each an e-mail subject and body and an SMS text. While the admin types, a preview rendered by
 * scheduling with example values (PreviewMessageTemplate) shows the message, or the linter's problems; saving
 * runs the same linter and puts each problem next to its field: a field outside the allow-list, free text that
 * looks like PHI, template syntax such as `{{constructor}}`, a missing `{{opt_out}}`.
 */
import { dateTimeOf } from '../staff/time';
import { useEffect, useState, type ChangeEvent, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import { FormMessages, messageOf, useForm, type FormState } from '../staff/form';
import { Note } from '../ui/note';
// The only fields a template may name: scheduling's own allow-list (a file without imports), not a copy.
import { TEMPLATE_FIELDS } from '../../../services/scheduling/src/notification/template-fields';
import { whileCurrent } from '../api/while-current';
import { Options } from '../ui/options';
import type {
  TemplateSetView as TemplateSet,
  TemplateTextsView as TemplateTexts,
} from '../../../services/gateway/src/message-template-view';

/** The kinds of patient message, with their labels. */
export const MESSAGE_KINDS = [
  { kind: 'invitation', label: 'Invitation' },
  { kind: 'rescheduled', label: 'Moved' },
  { kind: 'cancelled', label: 'Cancelled' },
  { kind: 'reminder', label: 'Reminder' },
  { kind: 'passcode', label: 'Passcode' },
] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number]['kind'];

/**
 * The fields a kind may name: `{{passcode}}` only in the passcode message, which in turn never names the link
 * (no message carries both).
 */
export function fieldsFor(kind: MessageKind): readonly (typeof TEMPLATE_FIELDS)[number][] {
  return kind === 'passcode'
    ? TEMPLATE_FIELDS.filter((f) => f !== 'join_link' && f !== 'passcode_note')
    : TEMPLATE_FIELDS.filter((f) => f !== 'passcode');
}

/** One template's texts (services/gateway/src/message-template-view.ts). */
export type { TemplateTexts };

type Preview =
  | { readonly state: 'idle' }
  | { readonly state: 'ok'; readonly message: TemplateTexts }
  | { readonly state: 'refused'; readonly problems: readonly string[] };

const LABELS = { subject: 'Subject', body: 'E-mail text', sms: 'SMS text', kind: 'Kind' };
const EMPTY: TemplateTexts = { subject: '', body: '', sms: '' };
const PREVIEW_DELAY_MS = 400;

/** The linter's problems in words: `E-mail text must include {{opt_out}} (the opt-out wording).` */
export function problemsOf(err: unknown): string[] {
  if (!(err instanceof ApiError) || err.fieldViolations.length === 0) return [messageOf(err)];
  return err.fieldViolations.map(
    (v) => `${(LABELS as Record<string, string>)[v.field] ?? v.field} ${v.description}.`,
  );
}

function TextArea({
  name,
  label,
  value,
  form,
  short,
  onChange,
}: {
  name: keyof TemplateTexts;
  label: string;
  value: string;
  form: FormState;
  short?: boolean;
  onChange: (e: ChangeEvent<HTMLTextAreaElement>) => void;
}) {
  const error = form.fieldErrors[name];
  return (
    <div className="field">
      <label htmlFor={`template-${name}`}>{label}</label>
      <textarea
        id={`template-${name}`}
        name={name}
        className={short ? 'text-field short' : 'text-field'}
        value={value}
        onChange={onChange}
        aria-describedby={`${name}-error`}
        aria-invalid={error ? true : undefined}
        spellCheck
      />
      <p id={`${name}-error`} className="field-error" hidden={!error}>
        {error ?? ''}
      </p>
    </div>
  );
}

/** The template editor card. */
export function TemplateEditor() {
  const [language, setLanguage] = useState('en');
  const [languageInput, setLanguageInput] = useState('en');
  const [kind, setKind] = useState<MessageKind>('invitation');
  const [drafts, setDrafts] = useState<Readonly<Partial<Record<MessageKind, TemplateTexts>>>>({});
  const [loaded, setLoaded] = useState<TemplateSet | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [preview, setPreview] = useState<Preview>({ state: 'idle' });
  const form = useForm(LABELS);
  const draft = drafts[kind] ?? EMPTY;

  useEffect(
    () =>
      whileCurrent(
        api<TemplateSet>('GET', `/api/message-templates/${encodeURIComponent(language)}`),
        (set) => {
          setLoaded(set);
          setLoadError(null);
          const next: Partial<Record<MessageKind, TemplateTexts>> = {};
          for (const { kind: k } of MESSAGE_KINDS) {
            const t = set.templates.find((x) => x.kind === k);
            next[k] = t ? { subject: t.subject, body: t.body, sms: t.sms } : EMPTY;
          }
          setDrafts(next);
        },
        (err: unknown) => setLoadError(messageOf(err)),
      ),
    [language],
  );

  // The preview follows the typing, a moment after it stops.
  useEffect(() => {
    if (!draft.subject && !draft.body && !draft.sms) return undefined;
    let live = true;
    const timer = setTimeout(() => {
      api<TemplateTexts>('POST', '/api/message-templates/preview', { kind, ...draft }).then(
        (message) => live && setPreview({ state: 'ok', message }),
        (err: unknown) => live && setPreview({ state: 'refused', problems: problemsOf(err) }),
      );
    }, PREVIEW_DELAY_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [kind, draft]);

  const edit = (part: keyof TemplateTexts) => (e: ChangeEvent<HTMLTextAreaElement>) => {
    const value = e.currentTarget.value;
    setDrafts((d) => ({ ...d, [kind]: { ...(d[kind] ?? EMPTY), [part]: value } }));
  };

  const chooseKind = (k: MessageKind) => {
    form.clear();
    setKind(k);
  };

  const save = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const el = event.currentTarget;
    void form.run(el, async () => {
      const set = await api<TemplateSet>(
        'PUT',
        `/api/message-templates/${encodeURIComponent(language)}/${kind}`,
        draft,
      );
      setLoaded(set);
      const label = MESSAGE_KINDS.find((k) => k.kind === kind)?.label ?? kind;
      form.setSuccess(`The ${label.toLowerCase()} message in ${language} is saved.`);
    });
  };

  const loadLanguage = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    form.clear();
    setPreview({ state: 'idle' });
    setLanguage(languageInput.trim());
  };

  return (
    <section id="admin-templates" className="card" aria-labelledby="admin-templates-title">
      <h2 id="admin-templates-title">Patient messages</h2>
      <p className="hint">
        What patients receive by e-mail and SMS. A message may name only these fields, and never anything
        about the patient. The passcode message goes alone, by the other channel than the link, when the
        clinic sends passcodes: only it may name <code>{'{{passcode}}'}</code>, and never the link.
      </p>
      <ul className="template-fields" aria-label="Fields a message may use">
        {fieldsFor(kind).map((f) => (
          <li key={f}>
            <code>{`{{${f}}}`}</code>
          </li>
        ))}
      </ul>
      <form id="template-language" className="inline-form" noValidate onSubmit={loadLanguage}>
        <div className="field">
          <label htmlFor="template-language-tag">
            Language <span className="hint">(such as en or de-CH)</span>
          </label>
          <input
            id="template-language-tag"
            value={languageInput}
            onChange={(e) => setLanguageInput(e.currentTarget.value)}
            autoComplete="off"
          />
        </div>
        <button type="submit" className="button button-quiet">
          Open
        </button>
      </form>
      <Note id="admin-templates-error" kind="error">
        {loadError}
      </Note>
      <div className="field">
        <label htmlFor="template-kind">Message</label>
        <select
          id="template-kind"
          value={kind}
          onChange={(e) => chooseKind(e.currentTarget.value as MessageKind)}
        >
          <Options of={MESSAGE_KINDS.map((k) => [k.kind, k.label])} />
        </select>
      </div>
      <p className="hint" id="template-saved-at">
        {loaded?.updateTime
          ? `Last saved ${dateTimeOf(loaded.updateTime)}.`
          : 'The built-in messages are in use.'}
      </p>
      <div className="template-editor">
        <form id="template-form" noValidate onSubmit={save} aria-busy={form.busy}>
          <TextArea
            name="subject"
            label="Subject"
            value={draft.subject}
            form={form}
            short
            onChange={edit('subject')}
          />
          <TextArea name="body" label="E-mail text" value={draft.body} form={form} onChange={edit('body')} />
          <TextArea name="sms" label="SMS text" value={draft.sms} form={form} short onChange={edit('sms')} />
          <FormMessages id="template" state={form} />
          <button type="submit" className="button button-primary" disabled={form.busy}>
            Save
          </button>
        </form>
        <section className="template-preview" aria-labelledby="template-preview-title" aria-live="polite">
          <h3 id="template-preview-title">Preview</h3>
          {preview.state === 'ok' ? (
            <dl id="template-preview">
              <dt>Subject</dt>
              <dd>
                <pre>{preview.message.subject}</pre>
              </dd>
              <dt>E-mail</dt>
              <dd>
                <pre>{preview.message.body}</pre>
              </dd>
              <dt>SMS</dt>
              <dd>
                <pre>{preview.message.sms}</pre>
              </dd>
            </dl>
          ) : null}
          {preview.state === 'refused' ? (
            <div id="template-preview-problems">
              <p>This message would be refused:</p>
              <ul>
                {preview.problems.map((p) => (
                  <li key={p}>{p}</li>
                ))}
              </ul>
            </div>
          ) : null}
          {preview.state === 'idle' ? <p className="hint">The preview appears as you type.</p> : null}
          <p className="hint">Example clinician, time and link; nothing is sent.</p>
        </section>
      </div>
    </section>
  );
}
