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
 * Jest's workers run side by side and cannot see each other's planned ports: two of them could draw the same free
 * port before either binds it (seen once in CI as a service's EADDRINUSE at start-up). Each worker draws from its
 * own slice of the range instead; a process outside Jest draws from the whole range.
 */
const SLICES = 8;

/** The ports [first, last) this process draws from: its Jest worker's slice (`JEST_WORKER_ID`), else all. */
export function portRange(workerId = process.env['JEST_WORKER_ID']): { first: number; last: number } {
  const id = Number(workerId);
  if (!Number.isSafeInteger(id) || id < 1) return { first: FIRST, last: LAST };
  const size = Math.floor((LAST - FIRST) / SLICES);
  const first = FIRST + ((id - 1) % SLICES) * size;
  return { first, last: first + size };
}
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
 * Returns a TCP port that was free on every IPv4 address a moment ago, outside the ephemeral range, in this
 * process's {@link portRange}, and that this process has not handed out before. Throws when none of a bounded number of random candidates will do.
 */
export async function freePort(): Promise<number> {
  const { first, last } = portRange();
  for (let i = 0; i < ATTEMPTS; i += 1) {
    const port = randomInt(first, last);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free TCP port found in ${first}-${last - 1} after ${ATTEMPTS} attempts`);
}
