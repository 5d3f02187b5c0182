/**
 * Listening on a port as a promise: the one place that turns `server.listen` (which reports a failure as an
 * `'error'` event, not through its callback) into something to await.
 */
import type { Server } from 'node:net';

/**
 * Starts `server` listening on `host`:`port` (0 for any free port) and resolves with the port it bound.
 * Throws the listen error (EADDRINUSE, EACCES, EADDRNOTAVAIL…) when it cannot bind; the `'error'` listener it
 * adds for that is removed once listening, so later errors reach the server's own handlers.
 */
export async function listening(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error(`listening: ${host} has no TCP port`);
  return address.port;
}
