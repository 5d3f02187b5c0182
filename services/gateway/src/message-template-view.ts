/**
 * The admin's patient message templates as the template editor reads them (`/api/message-templates`). Types only
 * and no imports: the browser app (web/src/admin/template-editor.tsx) imports this file as well, so each wire
 * shape has one definition.
 */

/** One template's texts; also what `POST /api/message-templates/preview` answers (rendered with examples). */
export interface TemplateTextsView {
  readonly subject: string;
  readonly body: string;
  readonly sms: string;
}

/** A language's templates (`GET /api/message-templates/:language`, and the `PUT` of one kind). */
export interface TemplateSetView {
  readonly language: string;
  /** `kind`: `invitation`, `rescheduled`, `cancelled`, `reminder`, `passcode`, or `unknown`. */
  readonly templates: ReadonlyArray<TemplateTextsView & { readonly kind: string }>;
  readonly updateTime: string | null;
}
