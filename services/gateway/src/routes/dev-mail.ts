/**
 * The dev stack's mail page inside the web app (`GET /api/dev/mail`): what the local SMTP catcher caught
 * (subject, recipients, text), for a newcomer to see the invitation arrive. Registered only when
 * HAVEN_DEV_MAIL_URL names a catcher on the loopback interface (the config refuses anything else), so a
 * production gateway has no such route. Staff only.
 */
import type { Router } from 'express';
import type { RouteContext } from '../context';
import { send } from '../http';
import { httpError } from '../http-errors';
import { staff } from './guards';
import type { CaughtMailListView } from '../admin-view';

/** One caught message as the page shows it. */
interface CaughtMessage {
  readonly messageId?: unknown;
  readonly to?: unknown;
  readonly subject?: unknown;
  readonly text?: unknown;
  readonly receivedAt?: unknown;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');
const MAX_MESSAGES = 50;

/** Registers GET /dev/mail when `catcherUrl` is set. */
export function registerDevMailRoutes(api: Router, ctx: RouteContext, catcherUrl: string | undefined): void {
  if (catcherUrl === undefined) return;
  const source = new URL('messages.json', catcherUrl.endsWith('/') ? catcherUrl : `${catcherUrl}/`);
  api.get(
    '/dev/mail',
    staff(ctx, { rpc: 'dev.MailCatcher' }, async (_req, res) => {
      let caught: unknown;
      try {
        const r = await fetch(source, { signal: AbortSignal.timeout(ctx.deadlineMs) });
        caught = await r.json();
      } catch (err) {
        ctx.logger.warn({ err }, 'the dev mail catcher did not answer');
        send(res, httpError('UNAVAILABLE'));
        return;
      }
      const list = Array.isArray(caught) ? (caught as CaughtMessage[]) : [];
      const view: CaughtMailListView = {
        messages: list
          .slice(-MAX_MESSAGES)
          .reverse()
          .map((m) => ({
            id: text(m.messageId),
            to: Array.isArray(m.to) ? m.to.map(text).join(', ') : text(m.to),
            subject: text(m.subject),
            text: text(m.text),
            receivedAt: text(m.receivedAt),
          })),
      };
      res.status(200).json(view);
    }),
  );
}
