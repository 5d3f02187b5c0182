/**
 * The fault suite's stack: a real nats-server (JetStream), the TCP fault proxy in front of it, and the built
 * scheduling and audit services as child processes that reach NATS only through the proxy. Every part can be
 * hurt the way an operator's worst day does: nats-server killed (-9) and restarted on the same port and data,
 * stopped (SIGSTOP) and continued; a service killed (-9) and restarted on the same port and data; the network
 * slowed, reset, cut or black-holed (see fault-proxy.ts). Tokens come from a test issuer the services trust
 * through a JWKS endpoint on 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { NatsConnection } from 'nats';
import { audit, scheduling } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import { createTestIssuer, type TestIssuer } from '@haven/service/testing';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy';
import { startJanus, type JanusHandle } from '../../support/janus';
import { serveJwks, type JwksServer } from '../../support/jwks-server';
import { startNatsServer } from '../../support/nats-server';
import { freePort } from '../../support/ports';
import { healthStatus } from '../../support/service-process';

const ROOT = join(__dirname, '..', '..', '..');
const POLL_MS = 100;

/** A child process that can be killed and started again with the same arguments. */
interface Restartable {
  /** The running process, when there is one. */
  readonly child: () => ChildProcess | undefined;
  start(): Promise<void>;
  /** Sends `signal`; for SIGKILL/SIGTERM waits for the exit. */
  signal(signal: NodeJS.Signals): Promise<void>;
  output(): string;
}

function restartable(
  name: string,
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  ready: () => Promise<boolean>,
  readyTimeoutMs: number,
): Restartable {
  let child: ChildProcess | undefined;
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-40_000);
  };
  return {
    child: () => child,
    async start() {
      const proc = spawn(command, [...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      proc.stdout?.on('data', keep);
      proc.stderr?.on('data', keep);
      let exited = false;
      proc.once('exit', () => {
        exited = true;
        if (child === proc) child = undefined;
      });
      const until = Date.now() + readyTimeoutMs;
      for (let i = 0; Date.now() < until && i < 1_000; i++) {
        if (exited) throw new Error(`${name} exited during start-up:\n${out.slice(-3000)}`);
        if (await ready()) return;
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      proc.kill('SIGKILL');
      throw new Error(`${name} not ready within ${readyTimeoutMs} ms:\n${out.slice(-3000)}`);
    },
    async signal(signal) {
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill(signal);
      if (signal === 'SIGKILL' || signal === 'SIGTERM') {
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
    },
    output: () => out,
  };
}

/** A service of the stack. */
export interface StackService {
  readonly name: string;
  readonly port: number;
  /** kill -9. */
  crash(): Promise<void>;
  /** Starts it again (same port, same data); resolves once SERVING. */
  restart(): Promise<void>;
  output(): string;
}

/** The running stack. */
export interface FaultStack {
  readonly natsPort: number;
  readonly proxy: FaultProxy;
  readonly scheduling: StackService;
  readonly audit: StackService | undefined;
  /** The session service (its booking consumer opens a visit per booking), when it runs. */
  readonly session: StackService | undefined;
  readonly issuer: TestIssuer;
  readonly schedulingClient: scheduling.SchedulingServiceClient;
  /** nats-server: kill -9 and start again on the same port and data. */
  crashNats(): Promise<void>;
  restartNats(): Promise<void>;
  /** SIGSTOP / SIGCONT of nats-server. */
  pauseNats(): Promise<void>;
  resumeNats(): Promise<void>;
  /** A plain nats.js connection straight to nats-server (not through the proxy), for the checker. */
  connectNats(): Promise<NatsConnection>;
  /** Every event id of the audit ledger, oldest first (undefined without an audit service). */
  ledgerIds(): Promise<string[] | undefined>;
  token(role: 'front_desk' | 'auditor'): Promise<string>;
  logs(lines?: number): string;
  stop(): Promise<void>;
}

/** Options of {@link startFaultStack}. */
export interface FaultStackOptions {
  /** Run the audit service too (default true). */
  readonly audit?: boolean;
  /** Run the session service (and a Janus for it) too: every booking opens a visit (default true). */
  readonly session?: boolean;
}

/**
 * Starts nats-server, the proxy, scheduling (and audit). Throws when a part does not start (everything started
 * is stopped; the message carries the logs).
 */
export async function startFaultStack(options: FaultStackOptions = {}): Promise<FaultStack> {
  const dir = mkdtempSync(join(tmpdir(), 'haven-fault-'));
  const stoppers: (() => Promise<void>)[] = [];
  const issuer = createTestIssuer();
  let jwks: JwksServer | undefined;
  try {
    jwks = await serveJwks(issuer.jwks);
    // The test harness's nats-server: authenticated and provisioned like production; the services reach it
    // through the proxy with their own NATS users.
    const nats = await startNatsServer();
    stoppers.push(() => nats.stop());
    const natsPort = nats.port;
    const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: natsPort } });
    stoppers.push(() => proxy.close());
    const natsUrl = `nats://127.0.0.1:${proxy.port}`;

    const service = async (
      name: 'scheduling' | 'audit' | 'session',
      extra: Record<string, string>,
    ): Promise<StackService> => {
      const entry = join(ROOT, 'services', name, 'dist', 'index.js');
      if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
      const port = await freePort();
      const proc = restartable(
        name,
        process.execPath,
        [entry],
        {
          PATH: process.env['PATH'] ?? '',
          LOG_LEVEL: 'warn',
          HAVEN_GRPC_PORT: String(port),
          ...nats.env(name),
          NATS_URL: natsUrl,
          HAVEN_JWKS_URL: jwks!.url,
          HAVEN_DATA_DIR: join(dir, name),
          HAVEN_SHUTDOWN_GRACE_MS: '500',
          ...extra,
        },
        // The session service's booking consumer may be thousands of bookings behind after a kill -9 under this
        // load: the restart is back once the process serves (liveness); the settle checks that it catches up.
        async () =>
          (await healthStatus(`127.0.0.1:${port}`, 500, name === 'session' ? 'liveness' : '')) === 1,
        // A bound on waiting, not an assertion: with bcrypt per NATS connection and catch-up, a start on a loaded
        // 2-core machine can take tens of seconds (the same bound as startServiceProcess).
        60_000,
      );
      await proc.start();
      stoppers.push(() => proc.signal('SIGTERM'));
      return {
        name,
        port,
        crash: () => proc.signal('SIGKILL'),
        restart: () => proc.start(),
        output: () => proc.output(),
      };
    };
    const schedulingHttp = await freePort();
    const schedulingService = await service('scheduling', {
      HAVEN_HTTP_PORT: String(schedulingHttp),
      HAVEN_KEYRING_FILE: join(dir, 'scheduling', 'keyring.json'),
    });
    const auditService = options.audit === false ? undefined : await service('audit', {});
    let janus: JanusHandle | undefined;
    let sessionService: StackService | undefined;
    if (options.session !== false) {
      const tokenSecret = randomBytes(24).toString('base64url');
      const roomAdminKey = randomBytes(24).toString('base64url');
      const started = await startJanus({ tokenAuthSecret: tokenSecret, videoroomAdminKey: roomAdminKey });
      janus = started;
      stoppers.push(() => started.stop());
      sessionService = await service('session', {
        HAVEN_HTTP_PORT: String(await freePort()),
        HAVEN_JANUS_WS_URLS: started.wsUrl,
        HAVEN_JANUS_TOKEN_SECRET: tokenSecret,
        HAVEN_JANUS_ADMIN_SECRET: roomAdminKey,
        HAVEN_PATIENT_JWKS_URL: `http://127.0.0.1:${schedulingHttp}/.well-known/jwks.json`,
      });
    }
    const schedulingClient = new scheduling.SchedulingServiceClient(
      `127.0.0.1:${schedulingService.port}`,
      grpc.credentials.createInsecure(),
    );
    stoppers.push(async () => schedulingClient.close());
    const auditClient = auditService
      ? new audit.AuditServiceClient(`127.0.0.1:${auditService.port}`, grpc.credentials.createInsecure())
      : undefined;
    if (auditClient) stoppers.push(async () => auditClient.close());

    const tokens = new Map<string, { token: string; until: number }>();
    const token = async (role: 'front_desk' | 'auditor'): Promise<string> => {
      const cached = tokens.get(role);
      if (cached && cached.until > Date.now()) return cached.token;
      const fresh = await issuer.sign({ sub: `u-fault-${role}`, role }, { expiresIn: '10m' });
      tokens.set(role, { token: fresh, until: Date.now() + 5 * 60_000 });
      return fresh;
    };

    return {
      natsPort,
      proxy,
      scheduling: schedulingService,
      audit: auditService,
      session: sessionService,
      issuer,
      schedulingClient,
      crashNats: () => nats.down({ signal: 'SIGKILL' }),
      restartNats: () => nats.up(),
      pauseNats: () => nats.pause(),
      resumeNats: () => nats.resume(),
      connectNats: () => nats.connect(),
      async ledgerIds() {
        if (!auditClient) return undefined;
        const ids: string[] = [];
        let pageToken = '';
        for (let page = 0; page < 10_000; page++) {
          const res = await callUnary(
            auditClient,
            'listAuditEvents',
            audit.ListAuditEventsRequest.fromPartial({ pageSize: 500, pageToken }),
            clientCallMetadata({ token: await token('auditor') }),
            { deadlineMs: 20_000 },
          );
          for (const e of res.auditEvents) ids.push(e.name.slice('auditEvents/'.length));
          pageToken = res.nextPageToken;
          if (pageToken === '') return ids;
        }
        throw new Error('the ledger did not end');
      },
      token,
      logs: (lines = 30) =>
        [schedulingService, auditService, sessionService]
          .filter((s): s is StackService => s !== undefined)
          .map((s) => `--- ${s.name} ---\n${s.output().split('\n').slice(-lines).join('\n')}`)
          .join('\n') +
        `\n--- nats-server ---\n${nats.logTail(lines)}` +
        (janus ? `\n--- janus ---\n${janus.logTail(lines)}` : ''),
      async stop() {
        await nats.resume();
        for (const s of stoppers.reverse()) await s().catch(() => undefined);
        await jwks?.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    for (const s of stoppers.reverse()) await s().catch(() => undefined);
    await jwks?.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
