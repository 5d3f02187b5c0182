/**
 * Test helper: a TCP fault proxy on 127.0.0.1, put between a client (a Haven service) and a server
 * (nats-server), that injects the network faults an operator's worst day brings:
 *
 * - latency (and jitter) on every chunk, both directions, order kept;
 * - resets: every open connection dropped with a TCP RST (`resetAll()`), or periodically (`resetEveryMs`);
 * - refusal: new connections closed at once (the server looks down);
 * - blackhole: connections stay open but nothing flows either way (a partition, or a stalled peer), until
 *   `set({ blackhole: false })` lets the held bytes through;
 * - damage: bytes written into the stream (`inject`).
 *
 *   const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: nats.port } });
 *   // the service connects to nats://127.0.0.1:${proxy.port}
 *   proxy.set({ latencyMs: 200 }); proxy.resetAll(); proxy.set({ blackhole: true });
 *   await proxy.close();
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { listening } from '@haven/service';

/** The faults in force; every field optional in {@link FaultProxy.set}. */
export interface Faults {
  /** Added to every chunk, each direction (ms). */
  readonly latencyMs: number;
  /** Up to this much more, at random per chunk (ms); order is kept. */
  readonly jitterMs: number;
  /** New connections are closed at once. */
  readonly refuse: boolean;
  /** Nothing flows (held, not lost) until it is lifted. */
  readonly blackhole: boolean;
  /** When > 0, every open connection is reset this often (ms). */
  readonly resetEveryMs: number;
  /**
   * New connections are reset just after the server's first bytes reach the client: a middlebox dropping the
   * connection as a client reads the greeting and starts its TLS handshake.
   */
  readonly resetAfterGreeting: boolean;
}

/** What the proxy did, for reports. */
export interface FaultProxyStats {
  connections: number;
  resets: number;
  refused: number;
  bytesUp: number;
  bytesDown: number;
}

/** A running proxy. */
export interface FaultProxy {
  /** The port clients connect to. */
  readonly port: number;
  readonly stats: Readonly<FaultProxyStats>;
  /** Changes the faults in force (unspecified fields keep their value). */
  set(faults: Partial<Faults>): void;
  /** Back to a clean network: no latency, no refusal, no blackhole, no periodic resets. */
  heal(): void;
  /** Resets (RST) every open connection now. */
  resetAll(): void;
  /**
   * Writes `bytes` into every open connection, towards the server (`up`) or the client (`down`), between the
   * proxied bytes: a damaged stream as a broken middlebox would deliver it.
   */
  inject(direction: 'up' | 'down', bytes: Buffer | string): void;
  /** Points the proxy at another server (e.g. a restarted one on a new port). */
  retarget(target: { host: string; port: number }): void;
  /** Closes the listener and every connection. */
  close(): Promise<void>;
}

const CLEAN: Faults = {
  latencyMs: 0,
  jitterMs: 0,
  refuse: false,
  blackhole: false,
  resetEveryMs: 0,
  resetAfterGreeting: false,
};

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Chunks waiting for the blackhole to lift, per direction. */
  readonly held: { up: Buffer[]; down: Buffer[] };
  /** When the last chunk of each direction is due (a later chunk is never due earlier). */
  readonly due: { up: number; down: number };
  /**
   * Delayed chunks in the order they came, per direction. Timers may fire out of order (one list per duration),
   * so a firing timer writes every chunk up to its own from the head: the bytes leave in order, as TCP's do.
   */
  readonly queue: { up: { seq: number; chunk: Buffer }[]; down: { seq: number; chunk: Buffer }[] };
  seq: number;
}

/**
 * Sends `chunk` on in `direction` under `faults`: held while the blackhole lasts, else after the latency (and
 * jitter), never before an earlier chunk of the same direction; a delayed chunk is dropped once `open()` says the
 * pair is gone.
 */
function forwardChunk(
  pair: Pair,
  direction: 'up' | 'down',
  chunk: Buffer,
  faults: Faults,
  open: () => boolean,
): void {
  const to = direction === 'up' ? pair.upstream : pair.client;
  if (faults.blackhole) {
    pair.held[direction].push(chunk);
    return;
  }
  const delay = faults.latencyMs + (faults.jitterMs > 0 ? Math.random() * faults.jitterMs : 0);
  if (delay <= 0 && pair.due[direction] <= Date.now() && pair.queue[direction].length === 0) {
    to.write(chunk);
    return;
  }
  const at = Math.max(Date.now() + delay, pair.due[direction]);
  pair.due[direction] = at;
  const queue = pair.queue[direction];
  const seq = (pair.seq += 1);
  queue.push({ seq, chunk });
  setTimeout(() => {
    while (queue.length > 0 && queue[0]!.seq <= seq) {
      const next = queue.shift()!;
      if (open() && !to.destroyed) to.write(next.chunk);
    }
  }, at - Date.now()).unref();
}

/**
 * Starts a proxy to `target` on a free port of 127.0.0.1 (or `port`). Resolves once it listens.
 * Throws when it cannot listen.
 */
export async function startFaultProxy(options: {
  target: { host: string; port: number };
  port?: number;
}): Promise<FaultProxy> {
  let target = options.target;
  let faults: Faults = CLEAN;
  const pairs = new Set<Pair>();
  const stats: FaultProxyStats = { connections: 0, resets: 0, refused: 0, bytesUp: 0, bytesDown: 0 };
  let resetTimer: NodeJS.Timeout | undefined;

  const reset = (pair: Pair): void => {
    if (!pairs.delete(pair)) return;
    stats.resets += 1;
    pair.client.resetAndDestroy();
    pair.upstream.resetAndDestroy();
  };

  const forward = (pair: Pair, direction: 'up' | 'down', chunk: Buffer): void =>
    forwardChunk(pair, direction, chunk, faults, () => pairs.has(pair));

  const release = (): void => {
    for (const pair of pairs) {
      for (const direction of ['up', 'down'] as const) {
        const chunks = pair.held[direction].splice(0);
        for (const chunk of chunks) forward(pair, direction, chunk);
      }
    }
  };

  const server: Server = createServer((client) => {
    if (faults.refuse) {
      stats.refused += 1;
      client.resetAndDestroy();
      return;
    }
    stats.connections += 1;
    const upstream = connect({ host: target.host, port: target.port });
    const pair: Pair = {
      client,
      upstream,
      held: { up: [], down: [] },
      due: { up: 0, down: 0 },
      queue: { up: [], down: [] },
      seq: 0,
    };
    pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (chunk: Buffer) => {
      stats.bytesUp += chunk.length;
      forward(pair, 'up', chunk);
    });
    let greeted = false;
    upstream.on('data', (chunk: Buffer) => {
      stats.bytesDown += chunk.length;
      if (!greeted && faults.resetAfterGreeting) {
        greeted = true;
        client.write(chunk, () => reset(pair));
        return;
      }
      greeted = true;
      forward(pair, 'down', chunk);
    });
    const end = (): void => {
      if (!pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });

  const port = await listening(server, options.port ?? 0, '127.0.0.1');

  const schedule = (): void => {
    if (resetTimer) clearInterval(resetTimer);
    resetTimer = undefined;
    if (faults.resetEveryMs > 0) {
      resetTimer = setInterval(() => {
        for (const pair of [...pairs]) reset(pair);
      }, faults.resetEveryMs);
      resetTimer.unref();
    }
  };

  const proxy: FaultProxy = {
    port,
    stats,
    set(next) {
      const wasBlackhole = faults.blackhole;
      const resetChanged = next.resetEveryMs !== undefined && next.resetEveryMs !== faults.resetEveryMs;
      faults = { ...faults, ...next };
      if (resetChanged) schedule();
      if (wasBlackhole && !faults.blackhole) release();
    },
    heal() {
      proxy.set(CLEAN);
    },
    inject(direction, bytes) {
      for (const pair of pairs) (direction === 'up' ? pair.upstream : pair.client).write(bytes);
    },
    resetAll() {
      for (const pair of [...pairs]) reset(pair);
    },
    retarget(next) {
      target = next;
    },
    async close() {
      if (resetTimer) clearInterval(resetTimer);
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
