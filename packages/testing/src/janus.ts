/**
 * Test helper: a real Janus (videoroom + websockets, admin API, token auth) as a child process, one per suite,
 * optionally inside a network namespace (see ./netns.ts).
 *
 *   const janus = await startJanus({ tokenAuthSecret: 'x'.repeat(32) });
 *   const c = await connectJanusWs(janus.wsUrl);
 *   await c.request({ janus: 'create', token: signJanusToken({ ... }) });
 *   c.close(); await janus.stop();
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import {
  generateJanusConfig,
  randomJanusSecret,
  signJanusToken,
  type JanusConfigOptions,
} from '../../../scripts/janus-config.cjs';
import { freePort } from './ports';
import { spawnChild, type ProcessHooks } from './process';

export { generateJanusConfig, randomJanusSecret, signJanusToken };
export type { JanusConfigOptions };

const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;

/** Options for {@link startJanus}: the generator's options minus what startJanus picks itself. */
export interface StartJanusOptions extends Partial<
  Omit<JanusConfigOptions, 'dir' | 'wsPort' | 'adminWsPort' | 'adminSecret' | 'recordingsDir' | 'logFile'>
> {
  /** Run Janus inside this network namespace (`ip netns exec`). */
  netns?: string;
  /** Admin secret; random when omitted. */
  adminSecret?: string;
  /** Recordings directory; `<tempdir>/recordings` when omitted (never removed by stop() when given). */
  recordingsDir?: string;
  /** Configuration directory; `<tempdir>/cfg` when omitted (never removed by stop() when given). */
  configDir?: string;
  /** Log file; `<tempdir>/janus.log` when omitted (never removed by stop() when given). */
  logFile?: string;
  /** Websocket API port (default a free one). */
  wsPort?: number;
  /** Admin websocket API port (default a free one). */
  adminWsPort?: number;
  /** Watches the process (see ProcessHooks; its name is `janus`). */
  hooks?: ProcessHooks;
  /** The process environment (default this process's). */
  env?: Readonly<Record<string, string>>;
  /**
   * Called once the configuration is written, before Janus starts: returns the user to run Janus as
   * (undefined: the current user). The dev stack runs it unprivileged when it runs as root.
   */
  runAs?: (files: {
    configDir: string;
    configFile: string;
    logFile: string;
    recordingsDir: string;
  }) => { uid: number; gid: number } | undefined;
}

/** A running Janus. */
export interface JanusHandle {
  readonly wsUrl: string;
  readonly adminWsUrl: string;
  readonly adminSecret: string;
  /** token_auth_secret, when signed-token auth is on. */
  readonly tokenSecret: string | undefined;
  readonly recordingsDir: string;
  readonly configDir: string;
  /** The core configuration file (`janus.jcfg`). */
  readonly configFile: string;
  readonly logFile: string;
  readonly pid: number;
  /** The last `lines` lines of Janus's log (for failure messages). */
  logTail(lines?: number): string;
  /** SIGTERM, SIGKILL after 5 s, then removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Generates a config in a fresh temp dir, starts `janus -F <dir> -C <dir>/janus.jcfg` on free ports and
 * resolves once the websocket API answers `info`. Throws Error when Janus exits early or is not ready within
 * 15 s (the process is killed and the temp dir removed; the message carries the log tail).
 */
export async function startJanus(opts: StartJanusOptions = {}): Promise<JanusHandle> {
  const { netns, hooks, env, runAs, ...rest } = opts;
  const ownBase =
    opts.configDir === undefined || opts.logFile === undefined || opts.recordingsDir === undefined;
  const base = ownBase ? mkdtempSync(join(tmpdir(), 'haven-janus-')) : undefined;
  const configDir = opts.configDir ?? join(base!, 'cfg');
  const logFile = opts.logFile ?? join(base!, 'janus.log');
  const recordingsDir = opts.recordingsDir ?? join(base!, 'recordings');
  mkdirSync(join(logFile, '..'), { recursive: true });
  const adminSecret = opts.adminSecret ?? randomJanusSecret();
  const wsPort = opts.wsPort ?? (await freePort());
  const adminWsPort = opts.adminWsPort ?? (await freePort());
  const cfg = generateJanusConfig({
    debugLevel: 3,
    ...rest,
    dir: configDir,
    wsPort,
    adminWsPort,
    adminSecret,
    recordingsDir,
    logFile,
  });
  const args = ['-F', configDir, '-C', cfg.configFile];
  const user = runAs?.({ configDir, configFile: cfg.configFile, logFile, recordingsDir });
  const child = spawnChild({
    name: 'janus',
    ...(netns !== undefined
      ? { command: '/usr/sbin/ip', args: ['netns', 'exec', netns, 'janus', ...args] }
      : { command: 'janus', args }),
    outputLimit: 4000,
    ...(env ? { env } : {}),
    ...(hooks ? { hooks } : {}),
    ...(user ? { user } : {}),
  });
  const logTail = (lines = 30): string => {
    let text = '';
    try {
      text = readFileSync(logFile, 'utf8');
    } catch {
      /* not written yet */
    }
    const printed = child.output();
    return `${text.split('\n').slice(-lines).join('\n')}${printed ? `\n[stderr] ${printed}` : ''}`;
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await child.stop({ graceMs: STOP_GRACE_MS });
    if (base) rmSync(base, { recursive: true, force: true });
  };
  const exited = child.done.then(() => {
    throw new Error(`janus exited early (${child.exitReason ?? 'exited'})`);
  });
  exited.catch(() => undefined);
  try {
    await Promise.race([
      netns !== undefined
        ? probeInNetns(netns, cfg.wsUrl, READY_TIMEOUT_MS)
        : waitForInfo(cfg.wsUrl, READY_TIMEOUT_MS),
      exited,
    ]);
  } catch (err) {
    const tail = logTail();
    await stop();
    throw new Error(`janus did not become ready: ${(err as Error).message}\n${tail}`, { cause: err });
  }
  return {
    wsUrl: cfg.wsUrl,
    adminWsUrl: cfg.adminWsUrl ?? `ws://127.0.0.1:${adminWsPort}`,
    adminSecret,
    tokenSecret: opts.tokenAuthSecret,
    recordingsDir,
    configDir,
    configFile: cfg.configFile,
    logFile,
    pid: child.pid,
    logTail,
    stop,
  };
}

/** A minimal Janus JSON-over-websocket client (Janus API or admin API), for tests. */
export interface JanusWsClient {
  /**
   * Sends `msg` with a fresh transaction and resolves with the first reply that is not an `ack`
   * (`success`, `error`, `event`, `server_info`, …). Throws Error after timeoutMs (default 5 s).
   */
  request(msg: Record<string, unknown>, opts?: { timeoutMs?: number }): Promise<Record<string, unknown>>;
  /** Sends `msg` as is (no transaction added, no reply awaited). */
  send(msg: Record<string, unknown>): void;
  /** Every message received so far, in order (acks included). */
  readonly received: readonly Record<string, unknown>[];
  /** Resolves with the close code and reason once the socket is closed (by either side). */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** True once the socket is closed. */
  isClosed(): boolean;
  close(): void;
}

/**
 * Opens a websocket to Janus (`janus-protocol`, or `janus-admin-protocol` with `{ admin: true }`), or to anything
 * speaking its protocol (Haven's media proxy, through the gateway with `headers` carrying cookies and origin).
 * Throws Error when the connection fails (`Unexpected server response: 401` for a refused upgrade) or takes
 * longer than timeoutMs (default 3 s).
 */
export async function connectJanusWs(
  url: string,
  opts: {
    admin?: boolean;
    timeoutMs?: number;
    headers?: Record<string, string>;
    /** The CA to verify a `wss://` server against (default the system's). */
    ca?: Buffer;
  } = {},
): Promise<JanusWsClient> {
  const ws = new WebSocket(url, opts.admin ? 'janus-admin-protocol' : 'janus-protocol', {
    ...(opts.headers ? { headers: opts.headers } : {}),
    ...(opts.ca ? { ca: opts.ca } : {}),
  });
  const pending = new Map<string, (m: Record<string, unknown>) => void>();
  const received: Record<string, unknown>[] = [];
  let isClosed = false;
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => {
      isClosed = true;
      resolve({ code, reason: reason.toString() });
    }),
  );
  ws.on('error', () => undefined); // reported through `closed` (and the open promise below)
  ws.on('message', (data: Buffer) => {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(data.toString()) as Record<string, unknown>;
    } catch {
      return;
    }
    received.push(msg);
    const tx = msg['transaction'];
    if (typeof tx !== 'string' || msg['janus'] === 'ack') return;
    pending.get(tx)?.(msg);
    pending.delete(tx);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`websocket ${url} did not open within ${opts.timeoutMs ?? 3000} ms`));
    }, opts.timeoutMs ?? 3000);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return {
    request: (msg, o = {}) =>
      new Promise((resolve, reject) => {
        const transaction = randomUUID();
        const timer = setTimeout(() => {
          pending.delete(transaction);
          reject(new Error(`janus request ${String(msg['janus'])} timed out`));
        }, o.timeoutMs ?? 5000);
        pending.set(transaction, (m) => {
          clearTimeout(timer);
          resolve(m);
        });
        if (ws.readyState !== WebSocket.OPEN) {
          clearTimeout(timer);
          pending.delete(transaction);
          reject(new Error(`janus request ${String(msg['janus'])}: the socket is closed`));
          return;
        }
        ws.send(JSON.stringify({ ...msg, transaction }));
      }),
    send: (msg) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
    },
    received,
    closed,
    isClosed: () => isClosed,
    close: () => ws.close(),
  };
}

/** Polls `info` on the websocket API until it answers `server_info`; throws after timeoutMs. */
async function waitForInfo(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const c = await connectJanusWs(url, { timeoutMs: 1000 });
      try {
        const r = await c.request({ janus: 'info' }, { timeoutMs: 2000 });
        if (r['janus'] === 'server_info') return;
        last = new Error(`unexpected answer ${JSON.stringify(r)}`);
      } finally {
        c.close();
      }
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no server_info from ${url} within ${timeoutMs} ms: ${String(last)}`);
}

/** The same readiness probe run by a node process inside the namespace (the host cannot reach its 127.0.0.1). */
async function probeInNetns(netns: string, url: string, timeoutMs: number): Promise<void> {
  const script = `
    const WebSocket = require(${JSON.stringify(require.resolve('ws'))});
    const deadline = Date.now() + ${timeoutMs};
    (function attempt() {
      if (Date.now() > deadline) { console.error('timeout'); process.exit(2); }
      const ws = new WebSocket(${JSON.stringify(url)}, 'janus-protocol');
      const retry = () => { ws.terminate(); setTimeout(attempt, 100); };
      const t = setTimeout(retry, 2000);
      ws.on('error', () => { clearTimeout(t); retry(); });
      ws.on('open', () => ws.send(JSON.stringify({ janus: 'info', transaction: 'ready' })));
      ws.on('message', (d) => {
        if (JSON.parse(d.toString()).janus === 'server_info') { clearTimeout(t); ws.close(); process.exit(0); }
      });
    })();`;
  await new Promise<void>((resolve, reject) => {
    const p = spawn('/usr/sbin/ip', ['netns', 'exec', netns, process.execPath, '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs + 3000);
    p.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`readiness probe in netns ${netns} failed (${code}): ${err.trim()}`));
    });
  });
}

/**
 * Creates a Janus session over `ws` and attaches a videoroom handle to it, both with the core token `token`.
 * Throws when Janus does not answer either, or answers an error.
 */
export async function attachVideoRoom(
  ws: JanusWsClient,
  token: string,
): Promise<{ sessionId: number; handleId: number }> {
  const created = await ws.request({ janus: 'create', token });
  if (created['janus'] !== 'success')
    throw new Error(`janus create refused: ${JSON.stringify(created['error'])}`);
  const sessionId = (created['data'] as { id: number }).id;
  const attached = await ws.request({
    janus: 'attach',
    session_id: sessionId,
    plugin: 'janus.plugin.videoroom',
    token,
  });
  if (attached['janus'] !== 'success')
    throw new Error(`janus attach refused: ${JSON.stringify(attached['error'])}`);
  return { sessionId, handleId: (attached['data'] as { id: number }).id };
}

/**
 * Joins a videoroom as a publisher the way any raw Janus client can: a fresh session and videoroom handle on `ws`
 * with the core token `coreToken`, then `join` with `body` (room, and whatever PIN, room token and display the
 * caller holds). Resolves with 'joined' and the feed id, or with Janus's error code (433 not allowed, 426 no such
 * room; -1 when the reply names none). Throws when Janus does not answer.
 */
export async function joinAsPublisher(
  ws: JanusWsClient,
  coreToken: string,
  body: Record<string, unknown>,
): Promise<{ outcome: 'joined' | number; feed?: number }> {
  const { sessionId, handleId } = await attachVideoRoom(ws, coreToken);
  const reply = await ws.request({
    janus: 'message',
    session_id: sessionId,
    handle_id: handleId,
    token: coreToken,
    body: { request: 'join', ptype: 'publisher', ...body },
  });
  const data = (reply['plugindata'] as { data: Record<string, unknown> } | undefined)?.data ?? {};
  if (data['videoroom'] === 'joined') return { outcome: 'joined', feed: data['id'] as number };
  return { outcome: (data['error_code'] as number | undefined) ?? -1 };
}

/**
 * Asks a Janus node whether a videoroom exists (a fresh session and handle, signed with the node's token secret).
 * Throws Error when Janus does not answer.
 */
export async function janusRoomExists(wsUrl: string, tokenSecret: string, room: number): Promise<boolean> {
  const ws = await connectJanusWs(wsUrl);
  try {
    const token = signJanusToken({ secret: tokenSecret, expiresAt: new Date(Date.now() + 60_000) });
    const { sessionId, handleId } = await attachVideoRoom(ws, token);
    const reply = await ws.request({
      janus: 'message',
      session_id: sessionId,
      handle_id: handleId,
      token,
      body: { request: 'exists', room },
    });
    return (reply['plugindata'] as { data: { exists: boolean } }).data.exists;
  } finally {
    ws.close();
  }
}
