/**
 * The admin's patient message templates (`/api/message-templates`), through scheduling's linted RPCs:
 *
 * - `GET /message-templates/:language`: the set (GetMessageTemplateSet; the built-in one until an admin saves).
 * - `PUT /message-templates/:language/:kind` `{ subject, body, sms }`: saves one kind in that language (the set is
 *   read, that kind replaced, the whole set saved with UpdateMessageTemplateSet, which lints it). The linter's
 *   problems come back as field violations on `subject`, `body` and `sms`; nothing is saved then.
 * - `POST /message-templates/preview` `{ kind, subject, body, sms }`: PreviewMessageTemplate, rendered with
 *   example values, after the same linter (nothing saved or sent).
 */
import type { Request, Response, Router } from 'express';
import { scheduling } from '@haven/proto';
import type { RouteContext } from '../context';
import { asRecord, invalid, send, stringField } from '../http';
import { httpError, httpErrorFromGrpc, type HttpFieldViolation } from '../http-errors';
import { staff } from './guards';
import type { TemplateSetView, TemplateTextsView } from '../message-template-view';

const ADMIN = ['admin'] as const;
const LANGUAGE = /^[a-z]{2,3}(-[A-Z]{2})?$/;
// A Map, not an object: `constructor` or `__proto__` from a request must not find anything.
const KINDS: ReadonlyMap<string, scheduling.MessageKind> = new Map([
  ['invitation', scheduling.MessageKind.MESSAGE_KIND_INVITATION],
  ['rescheduled', scheduling.MessageKind.MESSAGE_KIND_RESCHEDULED],
  ['cancelled', scheduling.MessageKind.MESSAGE_KIND_CANCELLED],
  ['reminder', scheduling.MessageKind.MESSAGE_KIND_REMINDER],
  ['passcode', scheduling.MessageKind.MESSAGE_KIND_PASSCODE],
]);
const KIND_NAMES = new Map([...KINDS].map(([k, v]) => [v, k]));
const PARTS = ['subject', 'body', 'sms'] as const;
/** The preview's violations (`template[0].body`, as the linter names them) → `body`. */
const PREVIEW_FIELDS: Readonly<Record<string, string>> = {
  template: 'form',
  ...Object.fromEntries(PARTS.map((p) => [`template[0].${p}`, p])),
  ...Object.fromEntries(PARTS.map((p) => [`template.${p}`, p])),
};

/** A language's set as the editor reads it (the built-in one while nobody saved). */
function templateSetView(language: string, set: scheduling.MessageTemplateSet | undefined): TemplateSetView {
  return {
    language,
    templates: (set?.templates ?? []).map((t) => ({
      kind: KIND_NAMES.get(t.kind) ?? 'unknown',
      subject: t.subject,
      body: t.body,
      sms: t.sms,
    })),
    updateTime: set?.updateTime?.toISOString() ?? null,
  };
}

/** The `:language` path parameter, or undefined after answering 404. */
function languageOf(req: Request, res: Response): string | undefined {
  const language = String(req.params['language'] ?? '');
  if (LANGUAGE.test(language)) return language;
  send(res, httpError('NOT_FOUND'));
  return undefined;
}

/** Subject, body and SMS text of a request body; undefined after answering 400. */
function textsOf(req: Request, res: Response): TemplateTextsView | undefined {
  const body = asRecord(req.body);
  const violations: HttpFieldViolation[] = [];
  // Longer than the linter allows is the linter's to say; this bound only keeps requests small.
  const [subject, text, sms] = PARTS.map((p) => stringField(body, p, 5000, violations) ?? '');
  if (invalid(res, violations)) return undefined;
  return { subject: subject ?? '', body: text ?? '', sms: sms ?? '' };
}

/** Violations on `message_template_set.templates[i].<part>` renamed to `<part>` (the one being saved). */
function fieldsOfIndex(i: number): Record<string, string> {
  const prefix = `message_template_set.templates[${i}]`;
  const names: Record<string, string> = { [`${prefix}.kind`]: 'kind' };
  for (const p of PARTS) names[`${prefix}.${p}`] = p;
  return names;
}

/** Registers the template routes on the /api router. */
export function registerMessageTemplateRoutes(api: Router, ctx: RouteContext): void {
  const { clients } = ctx;

  api.post(
    '/message-templates/preview',
    staff(
      ctx,
      { rpc: 'scheduling.PreviewMessageTemplate', roles: ADMIN, fields: PREVIEW_FIELDS },
      async (req, res, { token }) => {
        const named = asRecord(req.body)['kind'];
        const kind = typeof named === 'string' ? KINDS.get(named) : undefined;
        if (kind === undefined) {
          invalid(res, [{ field: 'kind', description: `must be one of ${[...KINDS.keys()].join(', ')}` }]);
          return;
        }
        const texts = textsOf(req, res);
        if (!texts) return;
        const r = await ctx.call(res, token, clients.scheduling, 'previewMessageTemplate', {
          template: { kind, ...texts },
        });
        const preview: TemplateTextsView = { subject: r.subject, body: r.body, sms: r.sms };
        res.status(200).json(preview);
      },
    ),
  );

  api.get(
    '/message-templates/:language',
    staff(ctx, { rpc: 'scheduling.GetMessageTemplateSet', roles: ADMIN }, async (req, res, { token }) => {
      const language = languageOf(req, res);
      if (!language) return;
      const r = await ctx.call(res, token, clients.scheduling, 'getMessageTemplateSet', {
        name: `messageTemplateSets/${language}`,
      });
      res.status(200).json(templateSetView(language, r.messageTemplateSet));
    }),
  );

  api.put(
    '/message-templates/:language/:kind',
    staff(ctx, { rpc: 'scheduling.UpdateMessageTemplateSet', roles: ADMIN }, async (req, res, { token }) => {
      const kind = KINDS.get(String(req.params['kind'] ?? ''));
      const language = languageOf(req, res);
      if (!language) return;
      if (kind === undefined) {
        send(res, httpError('NOT_FOUND'));
        return;
      }
      const texts = textsOf(req, res);
      if (!texts) return;
      const name = `messageTemplateSets/${language}`;
      const current = await ctx.call(res, token, clients.scheduling, 'getMessageTemplateSet', { name });
      const templates = [...(current.messageTemplateSet?.templates ?? [])];
      let index = templates.findIndex((t) => t.kind === kind);
      if (index < 0) index = templates.length;
      templates[index] = { kind, ...texts };
      let saved: scheduling.MessageTemplateSet | undefined;
      try {
        const r = await ctx.call(res, token, clients.scheduling, 'updateMessageTemplateSet', {
          messageTemplateSet: { name, templates },
        });
        saved = r.messageTemplateSet;
      } catch (err) {
        // The linter's problems name the saved kind's index in the set: they go back as subject, body, sms.
        ctx.logCallFailure(res, 'scheduling.UpdateMessageTemplateSet', err);
        send(res, httpErrorFromGrpc(err, fieldsOfIndex(index)));
        return;
      }
      res.status(200).json(templateSetView(language, saved));
    }),
  );
}
