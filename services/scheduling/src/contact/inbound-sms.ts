/**
 * Inbound SMS webhooks (replies to the clinic's messages), served on the scheduling service's HTTP port:
 *
 * - `POST /sms/inbound/twilio`: Twilio's form POST, its `X-Twilio-Signature` checked with the package's
 *   `validateRequest` against the public URL Twilio was given; answered with empty TwiML.
 * - `POST /sms/inbound/webhook`: the generic gateway's JSON `{ "from", "text" }`, signed with the webhook
 *   token: `X-Haven-Timestamp: <unix seconds>` and `X-Haven-Signature: sha256=<hex HMAC of "<timestamp>.<body>">`,
 *   at most five minutes old.
 *
 * A bad signature is 403 and nothing is read further. A STOP keyword opts the number out (SmsContactOptedOut on
 * the stream of its contact key), START opts it back in; any other text is dropped unread (it may be PHI, and
 * this is no messaging channel). Neither the number nor the text is logged.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import twilio from 'twilio';
import type { EventStore } from '@haven/eventstore';
import { handleCommand, type Logger } from '@haven/service';
import { ContactSource, evolveSmsContact, initialSmsContactState, smsContactStream } from './contact';
import type { ContactKeyer } from './contact-key';
import { decideSmsContact } from './decide';
import { BodyTooLarge, readBody } from './http-body';

export const INBOUND_TWILIO_PATH = '/sms/inbound/twilio';
export const INBOUND_WEBHOOK_PATH = '/sms/inbound/webhook';

const MAX_BODY = 16 * 1024;
const TOLERANCE_MS = 5 * 60_000;

/** Options of {@link inboundSmsRoutes}. */
export interface InboundSmsOptions {
  readonly store: EventStore;
  readonly clock: () => Date;
  readonly logger: Logger;
  readonly keyer: ContactKeyer;
  /** Twilio's inbound webhook: the auth token, and the exact public URL configured at Twilio. */
  readonly twilio?: { readonly authToken: string; readonly url: string } | undefined;
  /** The generic gateway's inbound webhook: the shared token it signs with. */
  readonly webhook?: { readonly token: string } | undefined;
}

function end(res: ServerResponse, status: number, body = '', type = 'text/plain'): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
}

/** Equal-time comparison of two hex or base64 strings. */
function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The generic webhook's signature of `body` at `timestamp`. */
export function webhookSignature(token: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', token).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The routes to mount on the service's HTTP server (only the configured providers). */
export function inboundSmsRoutes(options: InboundSmsOptions): Map<string, RequestListener> {
  const routes = new Map<string, RequestListener>();
  const record = async (from: string, text: string, source: ContactSource) => {
    if (from === '') return;
    const contactKey = options.keyer(from);
    const result = await handleCommand({
      store: options.store,
      stream: smsContactStream(contactKey),
      decide: decideSmsContact,
      evolve: evolveSmsContact,
      initialState: initialSmsContactState,
      command: { type: 'ReceiveSmsReply', data: { contactKey, body: text, source, now: options.clock() } },
      metadata: { actor: { kind: 'anonymous', id: `sms-${source}` }, correlationId: randomUUID() },
      now: options.clock,
    });
    for (const e of result.events) options.logger.info({ contactKey, type: e.type }, 'SMS reply recorded');
  };
  const guard =
    (handle: (req: IncomingMessage, res: ServerResponse, body: string) => Promise<void>): RequestListener =>
    (req, res) => {
      if (req.method !== 'POST') return end(res, 405);
      readBody(req, MAX_BODY)
        .then((body) => handle(req, res, body))
        .catch((error: unknown) => {
          if (error instanceof BodyTooLarge) return end(res, 413);
          options.logger.warn({ err: error }, 'inbound SMS not recorded');
          if (!res.headersSent) end(res, 503);
        });
    };
  const twilioHook = options.twilio;
  if (twilioHook) {
    routes.set(
      INBOUND_TWILIO_PATH,
      guard(async (req, res, body) => {
        const params = Object.fromEntries(new URLSearchParams(body));
        const signature = req.headers['x-twilio-signature'];
        if (
          typeof signature !== 'string' ||
          !twilio.validateRequest(twilioHook.authToken, signature, twilioHook.url, params)
        ) {
          return end(res, 403);
        }
        await record(params['From'] ?? '', params['Body'] ?? '', ContactSource.Twilio);
        end(res, 200, '<?xml version="1.0" encoding="UTF-8"?><Response></Response>', 'text/xml');
      }),
    );
  }
  const hook = options.webhook;
  if (hook) {
    routes.set(
      INBOUND_WEBHOOK_PATH,
      guard(async (req, res, body) => {
        const timestamp = req.headers['x-haven-timestamp'];
        const signature = req.headers['x-haven-signature'];
        const fresh =
          typeof timestamp === 'string' &&
          /^\d{1,12}$/.test(timestamp) &&
          Math.abs(options.clock().getTime() - Number(timestamp) * 1000) <= TOLERANCE_MS;
        if (
          !fresh ||
          typeof signature !== 'string' ||
          !sameSecret(signature, webhookSignature(hook.token, timestamp, body))
        ) {
          return end(res, 403);
        }
        let parsed: { from?: unknown; text?: unknown };
        try {
          parsed = JSON.parse(body) as typeof parsed;
        } catch {
          return end(res, 400);
        }
        if (typeof parsed.from !== 'string' || typeof parsed.text !== 'string') return end(res, 400);
        await record(parsed.from, parsed.text, ContactSource.Webhook);
        end(res, 204);
      }),
    );
  }
  return routes;
}
