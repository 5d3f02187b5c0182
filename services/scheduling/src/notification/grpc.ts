/**
 * The admin's RPCs for patient message templates: Get, Update (linted, saved as MessageTemplatesSaved on
 * `scheduling.message_templates-<language>`), Preview (linted, rendered with example values, nothing kept).
 */
import { ValidationError } from '@haven/errors';
import { scheduling } from '@haven/proto';
import {
  commandEvent,
  commandMetadata,
  requirePrincipal,
  throwIfAborted,
  type CallContext,
} from '@haven/service';
import type { SchedulingDeps } from '../deps';
import { formatClinicSpan } from '../schedule/clinic-time';
import { ReminderKind, type TemplateKind } from './reminder';
import {
  DEFAULT_OPT_OUT,
  DEFAULT_TEMPLATES,
  lintTemplates,
  MESSAGE_TEMPLATES_SAVED,
  renderMessage,
  templateStream,
  type MessageTemplate,
} from './template';

const LANGUAGE = /^[a-z]{2,3}(-[A-Z]{2})?$/;

const KIND_OF: Partial<Record<scheduling.MessageKind, TemplateKind>> = {
  [scheduling.MessageKind.MESSAGE_KIND_INVITATION]: ReminderKind.Invitation,
  [scheduling.MessageKind.MESSAGE_KIND_RESCHEDULED]: ReminderKind.Rescheduled,
  [scheduling.MessageKind.MESSAGE_KIND_CANCELLED]: ReminderKind.Cancelled,
  [scheduling.MessageKind.MESSAGE_KIND_REMINDER]: ReminderKind.Reminder,
  [scheduling.MessageKind.MESSAGE_KIND_PASSCODE]: ReminderKind.Passcode,
};
const PROTO_KIND: Record<TemplateKind, scheduling.MessageKind> = {
  invitation: scheduling.MessageKind.MESSAGE_KIND_INVITATION,
  rescheduled: scheduling.MessageKind.MESSAGE_KIND_RESCHEDULED,
  cancelled: scheduling.MessageKind.MESSAGE_KIND_CANCELLED,
  reminder: scheduling.MessageKind.MESSAGE_KIND_REMINDER,
  passcode: scheduling.MessageKind.MESSAGE_KIND_PASSCODE,
};

function languageOf(name: string, field: string): string {
  const language = name.startsWith('messageTemplateSets/') ? name.slice('messageTemplateSets/'.length) : '';
  if (!LANGUAGE.test(language)) {
    throw new ValidationError([
      { field, description: 'must be messageTemplateSets/{language}, e.g. messageTemplateSets/en' },
    ]);
  }
  return language;
}

function fromProto(t: scheduling.MessageTemplate, language: string, at: string): MessageTemplate {
  const kind = KIND_OF[t.kind];
  if (!kind) throw new ValidationError([{ field: `${at}.kind`, description: 'is required' }]);
  return { kind, language, subject: t.subject, body: t.body, sms: t.sms };
}

const toProto = (t: MessageTemplate): scheduling.MessageTemplate => ({
  kind: PROTO_KIND[t.kind],
  subject: t.subject,
  body: t.body,
  sms: t.sms,
});

/** Lint problems are reported on the request's fields. */
function lintAt(templates: readonly MessageTemplate[], prefix: string): void {
  try {
    lintTemplates(templates);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new ValidationError(
      error.violations.map((v) => ({ ...v, field: v.field.replace(/^templates/, prefix) })),
      { cause: error },
    );
  }
}

/** GetMessageTemplateSet: the saved set, or the built-in one. */
export function getMessageTemplateSet(deps: SchedulingDeps) {
  return async (
    request: scheduling.GetMessageTemplateSetRequest,
    ctx: CallContext,
  ): Promise<scheduling.GetMessageTemplateSetResponse> => {
    requirePrincipal(ctx);
    const language = languageOf(request.name, 'name');
    const events = await deps.store.read(templateStream(language));
    const last = events.at(-1);
    const saved = last?.data['templates'];
    return {
      messageTemplateSet: {
        name: `messageTemplateSets/${language}`,
        templates: Array.isArray(saved)
          ? (saved as MessageTemplate[]).map(toProto)
          : DEFAULT_TEMPLATES.filter((t) => t.language === language).map(toProto),
        ...(last ? { updateTime: new Date(last.occurredAt) } : {}),
      },
    };
  };
}

/** UpdateMessageTemplateSet: lint, then save (MessageTemplatesSaved). */
export function updateMessageTemplateSet(deps: SchedulingDeps) {
  return async (
    request: scheduling.UpdateMessageTemplateSetRequest,
    ctx: CallContext,
  ): Promise<scheduling.UpdateMessageTemplateSetResponse> => {
    requirePrincipal(ctx);
    const set = request.messageTemplateSet;
    if (!set) throw new ValidationError([{ field: 'message_template_set', description: 'is required' }]);
    const language = languageOf(set.name, 'message_template_set.name');
    const prefix = 'message_template_set.templates';
    const templates = set.templates.map((t, i) => fromProto(t, language, `${prefix}[${i}]`));
    const kinds = templates.map((t) => t.kind);
    const repeated = kinds.find((k, i) => kinds.indexOf(k) !== i);
    if (repeated)
      throw new ValidationError([{ field: prefix, description: `has two ${repeated} templates` }]);
    lintAt(templates, prefix);
    const metadata = commandMetadata(ctx);
    throwIfAborted(metadata.signal);
    const at = deps.clock();
    await deps.store.append(templateStream(language), 'any', [
      commandEvent(
        metadata,
        { type: MESSAGE_TEMPLATES_SAVED, data: { language, templates: templates.map((t) => ({ ...t })) } },
        at,
      ),
    ]);
    deps.logger.info({ language, count: templates.length }, 'message templates saved');
    return {
      messageTemplateSet: {
        name: `messageTemplateSets/${language}`,
        templates: templates.map(toProto),
        updateTime: at,
      },
    };
  };
}

/** PreviewMessageTemplate: lint, then render with example values. */
export function previewMessageTemplate(deps: SchedulingDeps, clinicName: string) {
  return (
    request: scheduling.PreviewMessageTemplateRequest,
    ctx: CallContext,
  ): Promise<scheduling.PreviewMessageTemplateResponse> => {
    requirePrincipal(ctx);
    if (!request.template) throw new ValidationError([{ field: 'template', description: 'is required' }]);
    const template = fromProto(request.template, 'en', 'template');
    lintAt([template], 'template');
    const start = new Date(Math.ceil(deps.clock().getTime() / 3_600_000) * 3_600_000 + 86_400_000);
    const rendered = renderMessage(template, {
      clinic_name: clinicName,
      start_time: formatClinicSpan(start, new Date(start.getTime() + 1_800_000), deps.settings.timeZone),
      clinician_name: 'Dr. Example',
      join_link: `${deps.settings.publicUrl.replace(/\/+$/, '')}/join#example-link-token`,
      passcode_note: 'You need the passcode the clinic gave you to join.',
      opt_out: DEFAULT_OPT_OUT,
      passcode: '12345678', // rendered only by the passcode template
    });
    return Promise.resolve(rendered);
  };
}
