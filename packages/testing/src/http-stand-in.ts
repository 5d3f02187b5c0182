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
