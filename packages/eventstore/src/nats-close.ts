import type { NatsConnection } from 'nats';

/**
 * Drains a NATS connection, but never waits longer than `timeoutMs` (default 2 s): when the server is gone a
 * drain would wait for a reconnect forever and hold the process open. After the bound the connection is closed.
 * Throws nothing.
 */
export async function closeNatsConnection(nc: NatsConnection, timeoutMs = 2_000): Promise<void> {
  if (nc.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    nc.drain().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (!nc.isClosed()) await nc.close().catch(() => undefined);
}
