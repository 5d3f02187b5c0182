/**
 * The one-click unsubscribe of the clinic's e-mails (RFC 8058), served on the scheduling service's HTTP port
 * (the gateway forwards `/email/unsubscribe` to it, so the link works on the clinic's public address):
 *
 * - `POST /email/unsubscribe?t=<token>`: what a mail client sends for `List-Unsubscribe-Post:
 *   List-Unsubscribe=One-Click`, and what the page's button sends. Records EmailContactOptedOut (once) and
 *   answers 200.
 * - `GET /email/unsubscribe?t=<token>`: a page with that button. A GET changes nothing (mail scanners fetch
 *   links).
 *
 * The token (contact-key.ts) names no address; one that is not ours is 404 and nothing is recorded. Neither
 * the token's key nor anything else about the patient is logged beyond the contact key.
 */
import { randomUUID } from 'node:crypto';
import type { RequestListener, ServerResponse } from 'node:http';
import type { EventStore } from '@haven/eventstore';
import { handleCommand, type Logger } from '@haven/service';
import type { UnsubscribeTokens } from './contact-key';
import { BodyTooLarge, readBody } from './http-body';
import {
  decideEmailContact,
  emailContactStream,
  evolveEmailContact,
  initialEmailContactState,
} from './email-contact';

export const EMAIL_UNSUBSCRIBE_PATH = '/email/unsubscribe';

const MAX_BODY = 4 * 1024;

/** Options of {@link emailUnsubscribeRoutes}. */
export interface EmailUnsubscribeOptions {
  readonly store: EventStore;
  readonly clock: () => Date;
  readonly logger: Logger;
  readonly tokens: UnsubscribeTokens;
  readonly clinicName: string;
}

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(res: ServerResponse, status: number, title: string, body: string): void {
  res
    .writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'content-security-policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
    })
    .end(
      `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" ` +
        `content="width=device-width, initial-scale=1"><title>${escape(title)}</title>` +
        `<main><h1>${escape(title)}</h1>${body}</main></html>`,
    );
}

/** The route to mount on the service's HTTP server. */
export function emailUnsubscribeRoutes(options: EmailUnsubscribeOptions): Map<string, RequestListener> {
  const clinic = escape(options.clinicName);
  const listener: RequestListener = (req, res) => {
    const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('t') ?? '';
    const contactKey = options.tokens.verify(token);
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.writeHead(405, { allow: 'GET, POST' }).end();
      return;
    }
    if (contactKey === undefined) {
      page(res, 404, 'This link is not valid', '<p>Nothing was changed.</p>');
      return;
    }
    if (req.method === 'GET') {
      page(
        res,
        200,
        `Stop e-mails from ${options.clinicName}?`,
        `<p>You will no longer get invitations, reminders or new-message notices from ${clinic} by e-mail. ` +
          'You still get your passcode and the notice when a visit you have moves or is cancelled.</p>' +
          `<form method="post" action="${EMAIL_UNSUBSCRIBE_PATH}?t=${encodeURIComponent(token)}">` +
          '<input type="hidden" name="confirm" value="page"><button type="submit">Stop these e-mails</button>' +
          '</form>',
      );
      return;
    }
    readBody(req, MAX_BODY)
      .then(async (body) => {
        const oneClick = new URLSearchParams(body).get('List-Unsubscribe') === 'One-Click';
        const result = await handleCommand({
          store: options.store,
          stream: emailContactStream(contactKey),
          decide: decideEmailContact,
          evolve: evolveEmailContact,
          initialState: initialEmailContactState,
          command: {
            type: 'UnsubscribeEmail',
            data: { contactKey, via: oneClick ? 'one-click' : 'page', now: options.clock() },
          },
          metadata: { actor: { kind: 'anonymous', id: 'email-unsubscribe' }, correlationId: randomUUID() },
          now: options.clock,
        });
        for (const e of result.events)
          options.logger.info({ contactKey, type: e.type }, 'e-mail opt-out recorded');
        page(res, 200, 'You are unsubscribed', `<p>${clinic} will no longer send you these e-mails.</p>`);
      })
      .catch((error: unknown) => {
        if (error instanceof BodyTooLarge) {
          res.writeHead(413).end();
          return;
        }
        options.logger.warn({ err: error }, 'e-mail opt-out not recorded');
        if (!res.headersSent) page(res, 503, 'Please try again', '<p>Nothing was changed.</p>');
      });
  };
  return new Map([[EMAIL_UNSUBSCRIBE_PATH, listener]]);
}
