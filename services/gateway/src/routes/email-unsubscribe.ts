/**
 * The one-click unsubscribe of the clinic's e-mails on the clinic's public address (RFC 8058): `GET` and `POST
 * /email/unsubscribe?t=<token>` are forwarded to scheduling's HTTP port, which checks the token (it names no
 * address) and records the opt-out. Outside /api: a mail client's one-click POST has no session and no CSRF
 * cookie; the unguessable token is the whole authority, and it can only ever unsubscribe its own address.
 */
import express, { type Express, type Request, type Response } from 'express';
import type { Logger } from '@haven/service';

export const EMAIL_UNSUBSCRIBE_PATH = '/email/unsubscribe';

/** Registers the forward when scheduling's unsubscribe endpoint is known. */
export function registerEmailUnsubscribe(
  app: Express,
  options: { readonly target: string | undefined; readonly logger: Logger; readonly deadlineMs: number },
): void {
  const target = options.target;
  if (target === undefined) return;
  const forward = async (req: Request, res: Response) => {
    const token = typeof req.query['t'] === 'string' ? req.query['t'] : '';
    const url = new URL(target);
    url.searchParams.set('t', token.slice(0, 200));
    let answer: globalThis.Response;
    try {
      answer = await fetch(url, {
        method: req.method,
        ...(req.method === 'POST'
          ? {
              body: typeof req.body === 'string' ? req.body : '',
              headers: { 'content-type': 'application/x-www-form-urlencoded' },
            }
          : {}),
        redirect: 'error',
        signal: AbortSignal.timeout(options.deadlineMs),
      });
    } catch (err) {
      options.logger.warn({ err }, 'the unsubscribe endpoint did not answer');
      res.status(503).type('text/plain').send('Please try again later. Nothing was changed.');
      return;
    }
    res
      .status(answer.status)
      .set('cache-control', 'no-store')
      .set('referrer-policy', 'no-referrer')
      .type(answer.headers.get('content-type') ?? 'text/plain')
      .send(await answer.text());
  };
  const body = express.text({ type: () => true, limit: '4kb' });
  app.get(EMAIL_UNSUBSCRIBE_PATH, (req, res, next) => void forward(req, res).catch(next));
  app.post(EMAIL_UNSUBSCRIBE_PATH, body, (req, res, next) => void forward(req, res).catch(next));
}
