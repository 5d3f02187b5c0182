/**
 * Test helper: free TCP ports for the servers a test starts.
 */
import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';

/**
 * Ports are drawn below Linux's default ephemeral range (32768-60999): a port the OS hands out for port 0 is
 * also what it gives the next outgoing connection, so a server started on it a moment later could find it taken
 * by a client's socket (seen as EADDRINUSE under load). Drawn at random, checked by binding.
 */
const FIRST = 15_000;
const LAST = 32_000;
const ATTEMPTS = 200;
/**
 * Every port this process handed out: a caller often plans several ports before it binds any (a whole stack's
 * services), and a bind check alone would let two of them draw the same free port.
 */
const handedOut = new Set<number>();

async function bindable(port: number): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    // Every address, as the services bind: a socket on any one address makes the port unusable for them.
    server.listen({ host: '0.0.0.0', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Returns a TCP port that was free on every IPv4 address a moment ago, outside the ephemeral range, and that
 * this process has not handed out before. Throws when none of a bounded number of random candidates will do.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < ATTEMPTS; i += 1) {
    const port = randomInt(FIRST, LAST);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free TCP port found in ${FIRST}-${LAST} after ${ATTEMPTS} attempts`);
}
