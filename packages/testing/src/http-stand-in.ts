/**
 * A local HTTP server standing in for a vendor's endpoint (an SMS gateway, Twilio, Janus's event sink): each
 * request's body is read whole before the handler answers it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listening } from '@haven/service';

/** Answers one request whose body has been read whole. */
export type StandInHandler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

/** A running stand-in. */
export interface HttpStandIn {
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `handler` on 127.0.0.1 (a free port, or `port`). Resolves once listening. */
export async function serveHttpStandIn(
  handler: StandInHandler,
  options: { readonly port?: number } = {},
): Promise<HttpStandIn> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, Buffer.concat(chunks), res));
  });
  const port = await listening(server, options.port ?? 0, '127.0.0.1');
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A stand-in that keeps what it accepted and can be told to refuse (a vendor API under a transport contract). */
export interface RefusableStandIn<T> extends HttpStandIn {
  /** What the handler accepted, oldest first. */
  readonly received: T[];
  /** From now on the handler is told to refuse with `status`; `undefined` accepts again. */
  refuse(status: number | undefined): void;
}

/**
 * Answers one request whose body has been read whole: `refusal` is the status set by `refuse` (undefined when
 * accepting), and the handler pushes what it accepts to `received`.
 */
export type RefusableHandler<T> = (
  req: IncomingMessage,
  body: Buffer,
  res: ServerResponse,
  state: { readonly refusal: number | undefined; readonly received: T[] },
) => void;

/** Serves `handler` as {@link serveHttpStandIn} does, with the refusal it is told and the list it fills. */
export async function serveRefusableStandIn<T>(handler: RefusableHandler<T>): Promise<RefusableStandIn<T>> {
  const received: T[] = [];
  let refusal: number | undefined;
  const server = await serveHttpStandIn((req, body, res) => handler(req, body, res, { refusal, received }));
  return {
    ...server,
    received,
    refuse: (status) => {
      refusal = status;
    },
  };
}
