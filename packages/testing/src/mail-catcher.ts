/**
 * A local SMTP catcher: a real `smtp-server` that keeps every message it accepts (parsed with `mailparser`),
 * counts Message-IDs, and can answer with faults (4xx/5xx, a held reply). Optionally STARTTLS and AUTH, and a
 * small HTTP page listing what it caught (the dev stack's "local mail" page). Tests and the dev stack only.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { listening } from '@haven/service';

/** One accepted message. */
export interface CaughtMail {
  readonly messageId: string;
  readonly from: string;
  readonly to: readonly string[];
  readonly subject: string;
  readonly text: string;
  /** The raw message (headers and body) as received. */
  readonly raw: string;
  readonly receivedAt: string;
  /** True when the session had switched to TLS (STARTTLS) before the message. */
  readonly tls: boolean;
  /** The authenticated user, when the session authenticated. */
  readonly user: string | undefined;
}

/** What the catcher answers to a message: accept (undefined) or an SMTP error. */
export type MailFault = { readonly code: number; readonly message: string } | undefined;

/** Options of {@link startMailCatcher}. */
export interface MailCatcherOptions {
  /** Offer STARTTLS with this certificate (PEM files); without it, plain SMTP (loopback only). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** Require AUTH PLAIN/LOGIN with these credentials. */
  readonly auth?: { readonly user: string; readonly pass: string };
  /** SMTP port (default a free one). */
  readonly port?: number;
  /** Serve the listing page on this port (0 = a free one; default no page). */
  readonly httpPort?: number;
  readonly host?: string;
}

/** Replies held by {@link MailCatcher.holdFrom}. */
export interface MailHold {
  held(): readonly CaughtMail[];
  stop(): void;
}

/** A running catcher. */
export interface MailCatcher {
  readonly port: number;
  /** `http://127.0.0.1:<port>/` of the listing page, when asked for. */
  readonly pageUrl: string | undefined;
  /** Messages accepted so far, in order. */
  messages(): readonly CaughtMail[];
  /** How many times a Message-ID was accepted. */
  countOf(messageId: string): number;
  /** Every Message-ID accepted more than once. */
  duplicates(): string[];
  /** Decides the answer to each message from now on (undefined = accept). */
  setFault(fault: ((mail: CaughtMail) => MailFault) | undefined): void;
  /**
   * Holds the reply to a coming message after its data arrived (the client waits for the final reply): the
   * next one, or the one after `skip` others. Resolves when it is held; `release()` accepts it, and a message
   * never released is never accepted (as when the client dies before the server's final reply).
   */
  holdNext(skip?: number): Promise<{ readonly mail: CaughtMail; release(): void }>;
  /**
   * Holds the reply to every message after `skip` more accepted ones (each client waits for its final reply,
   * as when several are in flight when a sender dies), until `stop()`: held messages are never accepted, and
   * messages after `stop()` are accepted again. `held()` lists them in order.
   */
  holdFrom(skip?: number): MailHold;
  close(): Promise<void>;
}

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(messages: readonly CaughtMail[]): string {
  const rows = [...messages]
    .reverse()
    .map(
      (m) =>
        `<article><h2>${escape(m.subject)}</h2><p>${escape(m.receivedAt)} · to ${escape(m.to.join(', '))} · ` +
        `${escape(m.messageId)}</p><pre>${escape(m.text)}</pre></article>`,
    )
    .join('\n');
  return (
    `<!doctype html><html lang="en"><meta charset="utf-8"><title>Local mail (${messages.length})</title>` +
    `<style>body{font:15px system-ui;margin:2rem;max-width:60rem}article{border-top:1px solid #ccc}` +
    `pre{white-space:pre-wrap}</style><h1>Local mail: ${messages.length} message(s)</h1>` +
    `<p>What Haven sent, caught by the dev stack's SMTP catcher. Nothing leaves this machine.</p>${rows}</html>`
  );
}

/** What the catcher keeps of a message it received in `session`. */
function caughtMail(parsed: ParsedMail, session: SMTPServerSession, raw: string): CaughtMail {
  return {
    messageId: parsed.messageId ?? '',
    from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
    to: session.envelope.rcptTo.map((r) => r.address),
    subject: parsed.subject ?? '',
    text: parsed.text ?? '',
    raw,
    receivedAt: new Date().toISOString(),
    tls: session.secure,
    user: typeof session.user === 'string' ? session.user : undefined,
  };
}

/** Serves the caught mail on `host:port`: a page, and `/messages.json` (without the raw text). */
async function servePage(host: string, port: number, caught: readonly CaughtMail[]): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/messages.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(caught.map(({ raw: _raw, ...m }) => m)));
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    });
    res.end(page(caught));
  });
  await listening(server, port, host);
  return server;
}

/** Starts a catcher on 127.0.0.1. Rejects when a port is taken or the certificate cannot be read. */
export async function startMailCatcher(options: MailCatcherOptions = {}): Promise<MailCatcher> {
  const host = options.host ?? '127.0.0.1';
  const caught: CaughtMail[] = [];
  const counts = new Map<string, number>();
  let fault: ((mail: CaughtMail) => MailFault) | undefined;
  let holdWaiter: ((held: { mail: CaughtMail; release(): void }) => void) | undefined;
  let holdSkip = 0;
  let holdAll: { skip: number; held: CaughtMail[] } | undefined;
  const serverOptions: SMTPServerOptions = {
    secure: false,
    disabledCommands: [...(options.tls ? [] : ['STARTTLS']), ...(options.auth ? [] : ['AUTH'])],
    ...(options.tls
      ? {
          key: readFileSync(options.tls.keyFile),
          cert: readFileSync(options.tls.certFile),
          minVersion: 'TLSv1.2',
        }
      : {}),
    authOptional: !options.auth,
    allowInsecureAuth: false,
    logger: false,
    size: 1024 * 1024,
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        callback(null, { user: auth.username });
      } else {
        callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      }
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        void simpleParser(raw).then(
          (parsed) => {
            const mail = caughtMail(parsed, session, raw);
            const answer = fault?.(mail);
            if (answer) {
              callback(Object.assign(new Error(answer.message), { responseCode: answer.code }));
              return;
            }
            const accept = () => {
              caught.push(mail);
              counts.set(mail.messageId, (counts.get(mail.messageId) ?? 0) + 1);
              callback();
            };
            const waiter = holdWaiter;
            if (holdAll && holdAll.skip > 0) holdAll.skip -= 1;
            else if (holdAll) {
              holdAll.held.push(mail); // no reply until the client goes away
              return;
            }
            if (waiter && holdSkip > 0) {
              holdSkip -= 1;
              accept();
            } else if (waiter) {
              holdWaiter = undefined;
              waiter({ mail, release: accept });
            } else accept();
          },
          (error: unknown) => callback(error as Error),
        );
      });
    },
  };
  if (options.tls && options.auth === undefined) serverOptions.authOptional = true;
  const smtp = new SMTPServer(serverOptions);
  smtp.on('error', () => undefined);
  const port = await listening(smtp.server, options.port ?? 0, host);
  const http = options.httpPort !== undefined ? await servePage(host, options.httpPort, caught) : undefined;
  const pageUrl = http ? `http://${host}:${(http.address() as AddressInfo).port}/` : undefined;
  return {
    port,
    pageUrl,
    messages: () => [...caught],
    countOf: (id) => counts.get(id) ?? 0,
    duplicates: () => [...counts].filter(([, n]) => n > 1).map(([id]) => id),
    setFault: (f) => {
      fault = f;
    },
    holdNext: (skip = 0) =>
      new Promise((resolve) => {
        holdSkip = skip;
        holdWaiter = resolve;
      }),
    holdFrom: (skip = 0) => {
      const hold = { skip, held: [] as CaughtMail[] };
      holdAll = hold;
      return {
        held: () => [...hold.held],
        stop: () => {
          if (holdAll === hold) holdAll = undefined;
        },
      };
    },
    close: async () => {
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
      if (http) await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** The variables that send scheduling's e-mail to `catcher` (plain SMTP on loopback) from `from`. */
export const catcherSmtpEnv = (catcher: MailCatcher, from: string): Record<string, string> => ({
  HAVEN_SMTP_URL: `smtp://127.0.0.1:${catcher.port}`,
  HAVEN_SMTP_REQUIRE_TLS: 'false',
  HAVEN_SMTP_FROM: from,
});
