/**
 * Whole-stack launcher for browser tests, run INSIDE a network namespace (see tests/support/netns.ts
 * `runInNetns`): nats-server, Janus (signed-token core auth, videoroom admin key, `ice_enforce_list = v0`, event
 * handler posting to the session service), and the built identity, scheduling, session, audit and gateway
 * services as child processes, all on 127.0.0.1 inside the namespace. Staff users are created with identity's
 * real CLI (app layer) and sign in through identity's Login RPC; MFA is relaxed for the test
 * (HAVEN_MFA_REQUIRED_ROLES=none). Nothing leaves the namespace; no STUN/TURN.
 *
 *   const stack = await startStack();
 *   const fd = await stack.login('front_desk');
 *   ... stack.clients.scheduling / stack.call(...) ...
 *   await stack.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { identity, scheduling, session } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import { startJanus, type JanusHandle } from '../../support/janus';
import { startNatsServer, type NatsServerHandle } from '../../support/nats-server';
import { freePort } from '../../support/ports';
import { startServiceProcess, type ServiceProcess } from '../../support/service-process';

const ROOT = join(__dirname, '..', '..', '..');
/** Password of every test user. */
export const STACK_PASSWORD = 'Visit-Media-Lantern-4821!';
/** The staff users the stack creates: role -> e-mail. */
export const STACK_USERS = {
  front_desk: 'frontdesk@visit.test',
  clinician: 'dr.visit@visit.test',
} as const;
export type StackRole = keyof typeof STACK_USERS;
/** The display names the stack gives its staff users (the front desk picks the clinician by this name). */
export const STACK_DISPLAY_NAMES: Readonly<Record<StackRole, string>> = {
  front_desk: 'Front Desk',
  clinician: 'Dr Demo Clinician',
};

/** A signed-in staff user. */
export interface StackUser {
  readonly id: string;
  readonly token: string;
  /** The refresh token of this sign-in (RefreshToken, Logout). */
  readonly refreshToken: string;
}

/** The gRPC clients of the services, on 127.0.0.1 inside the namespace. */
export interface StackClients {
  readonly identity: identity.IdentityServiceClient;
  readonly scheduling: scheduling.SchedulingServiceClient;
  readonly session: session.SessionServiceClient;
}

/** A running stack. */
export interface Stack {
  readonly nats: NatsServerHandle;
  readonly janus: JanusHandle;
  /** The Janus websocket URL the browser uses (inside the namespace). */
  readonly janusWsUrl: string;
  /** Janus core token secret (tests sign core tokens with it to play an attacker with a valid session). */
  readonly janusTokenSecret: string;
  /** `http://127.0.0.1:<port>` of the gateway, or null when it did not start (reported in `gatewayError`). */
  readonly gatewayUrl: string | null;
  readonly gatewayError: string | null;
  readonly clients: StackClients;
  /** One gRPC client per session replica (the first is `clients.session`). */
  readonly sessionReplicas: readonly session.SessionServiceClient[];
  /** `http://127.0.0.1:<port>` of each session replica's HTTP port (Janus events, the media proxy at /media). */
  readonly sessionHttpUrls: readonly string[];
  /** Startup time of each part in ms. */
  readonly timings: Record<string, number>;
  /** Signs a staff user in through identity's Login RPC. Throws when the login fails. */
  login(role: StackRole): Promise<StackUser>;
  /** The last lines of every process's output, for failure messages. */
  logs(lines?: number): string;
  /** Stops every process (reverse order) and removes the temp dirs. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startStack}. */
export interface StackOptions {
  /** Start the gateway (default true). */
  readonly gateway?: boolean;
  /** Start the audit service (default true). */
  readonly audit?: boolean;
  /**
   * The stack runs inside a network namespace (default true): Janus gathers ICE candidates on `v0` only. Off for
   * suites that speak the Janus protocol but exchange no media (the host has no `v0`).
   */
  readonly netns?: boolean;
  /** Extra variables for identity (e.g. a short HAVEN_IDLE_TIMEOUT_SEC). */
  readonly identityEnv?: Readonly<Record<string, string>>;
  /** Extra variables for the gateway (e.g. the same short HAVEN_IDLE_TIMEOUT_SEC). */
  readonly gatewayEnv?: Readonly<Record<string, string>>;
  /** Session service processes sharing NATS and Janus (default 1); Janus's event handler posts to the first. */
  readonly sessionReplicas?: number;
}

function decodeSub(jwt: string): string {
  const payload = jwt.split('.')[1] ?? '';
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: string };
  if (!claims.sub) throw new Error('token without sub');
  return claims.sub;
}

function httpGetStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** The gateway has no gRPC health service: start it and poll /healthz (bounded). Throws when it does not start. */
export async function startGateway(
  port: number,
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<{ child: ChildProcess; output: () => string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [join(ROOT, 'services', 'gateway', 'dist', 'index.js')], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  let exited = false;
  const done = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(t);
  };
  const until = Date.now() + timeoutMs;
  for (let i = 0; i < 400 && Date.now() < until; i++) {
    if (exited) throw new Error(`gateway exited during start-up:\n${out.slice(-3000)}`);
    if ((await httpGetStatus(`http://127.0.0.1:${port}/healthz`, 500)) === 200)
      return { child, output: () => out, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`gateway not healthy within ${timeoutMs} ms:\n${out.slice(-3000)}`);
}

/**
 * Starts the whole stack. Must run inside a network namespace (Janus enforces ICE on `v0`).
 * Throws Error when a part does not start (everything already started is stopped; the message has logs).
 */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const dir = mkdtempSync(join(tmpdir(), 'haven-stack-'));
  const stoppers: Array<() => Promise<void>> = [];
  const outputs: Array<{ name: string; output: () => string }> = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const s of stoppers.reverse()) await s().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  const logs = (lines = 20): string =>
    outputs.map((o) => `--- ${o.name} ---\n${o.output().split('\n').slice(-lines).join('\n')}`).join('\n');

  try {
    const tokenSecret = randomBytes(24).toString('base64url');
    const roomAdminKey = randomBytes(24).toString('base64url');
    const eventsSecret = randomBytes(24).toString('base64url');
    const identityPort = await freePort();
    const identityHttp = await freePort();
    const schedulingPort = await freePort();
    const schedulingHttp = await freePort();
    const replicas = Math.max(1, opts.sessionReplicas ?? 1);
    const sessionPorts: number[] = [];
    const sessionHttpPorts: number[] = [];
    for (let i = 0; i < replicas; i++) {
      sessionPorts.push(await freePort());
      sessionHttpPorts.push(await freePort());
    }
    const sessionPort = sessionPorts[0]!;
    const sessionHttp = sessionHttpPorts[0]!;
    const auditPort = await freePort();
    const gatewayPort = await freePort();

    const [nats, janus] = await Promise.all([
      startNatsServer(),
      startJanus({
        tokenAuthSecret: tokenSecret,
        videoroomAdminKey: roomAdminKey,
        ...(opts.netns === false ? {} : { iceEnforceList: 'v0' }),
        eventHandlerUrl: `http://127.0.0.1:${sessionHttp}/janus-events`,
        eventHandlerPassword: eventsSecret,
        eventHandlerEvents: 'plugins',
        debugLevel: 2,
      }),
    ]);
    stoppers.push(
      () => nats.stop(),
      () => janus.stop(),
    );
    outputs.push({ name: 'janus', output: () => janus.logTail(40) });
    timings['natsAndJanus'] = Date.now() - t0;

    const identityData = join(dir, 'identity');
    mkdirSync(identityData, { recursive: true });
    const identityEnv = {
      ...nats.env('identity'),
      HAVEN_DATA_DIR: identityData,
      HAVEN_ARGON2_MEMORY_KIB: '1024',
      HAVEN_ARGON2_TIME_COST: '1',
      HAVEN_LOGIN_IP_BURST: '10000',
      HAVEN_LOGIN_IP_PER_MINUTE: '10000',
      HAVEN_SIGNING_KEY_ROTATION_DAYS: '3650',
      HAVEN_MFA_REQUIRED_ROLES: 'none',
      ...opts.identityEnv,
    };
    const jwksUrl = `http://127.0.0.1:${identityHttp}/.well-known/jwks.json`;
    const patientJwksUrl = `http://127.0.0.1:${schedulingHttp}/.well-known/jwks.json`;
    const common = { HAVEN_JWKS_URL: jwksUrl, HAVEN_PATIENT_JWKS_URL: patientJwksUrl };
    const track = (p: ServiceProcess): ServiceProcess => {
      stoppers.push(() => p.stop());
      outputs.push({ name: p.name, output: p.output });
      return p;
    };
    const tIdentity = Date.now();
    track(
      await startServiceProcess('identity', identityPort, {
        ...identityEnv,
        HAVEN_HTTP_PORT: String(identityHttp),
      }),
    );
    timings['identity'] = Date.now() - tIdentity;

    const tOthers = Date.now();
    const others = Promise.all([
      startServiceProcess('scheduling', schedulingPort, {
        ...common,
        ...nats.env('scheduling'),
        HAVEN_HTTP_PORT: String(schedulingHttp),
        HAVEN_DATA_DIR: join(dir, 'scheduling'),
        HAVEN_KMS: 'local',
        HAVEN_KEYRING_FILE: join(dir, 'scheduling', 'keyring.json'),
        HAVEN_PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
      }).then(track),
      ...sessionPorts.map((port, i) =>
        startServiceProcess(
          'session',
          port,
          {
            ...common,
            ...nats.env('session'),
            HAVEN_HTTP_PORT: String(sessionHttpPorts[i]),
            HAVEN_JANUS_WS_URLS: janus.wsUrl,
            HAVEN_JANUS_ADMIN_URLS: janus.adminWsUrl,
            HAVEN_JANUS_TOKEN_SECRET: tokenSecret,
            HAVEN_JANUS_ADMIN_SECRET: roomAdminKey,
            HAVEN_JANUS_EVENTS_SECRET: eventsSecret,
            HAVEN_JANUS_RECORDINGS_DIR: janus.recordingsDir,
            HAVEN_DATA_DIR: join(dir, `session-${i}`),
          },
          undefined,
          { label: i === 0 ? 'session' : `session-${i + 1}` },
        ).then(track),
      ),
      opts.audit === false
        ? Promise.resolve(undefined)
        : startServiceProcess('audit', auditPort, {
            ...common,
            ...nats.env('audit'),
            HAVEN_DATA_DIR: join(dir, 'audit'),
          }).then(track),
    ]);

    // Staff users through identity's CLI app layer (the same code path as the RPCs), while the others start.
    const tUsers = Date.now();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { runCli } = require(join(ROOT, 'services', 'identity', 'dist', 'cli.js')) as {
      runCli(
        args: string[],
        io: {
          stdout: (t: string) => void;
          stderr: (t: string) => void;
          readStdin: () => Promise<string>;
          env: NodeJS.ProcessEnv;
        },
      ): Promise<number>;
    };
    for (const [role, email] of Object.entries(STACK_USERS)) {
      let cliOut = '';
      const code = await runCli(
        [
          'user',
          'invite',
          '--email',
          email,
          '--role',
          role,
          '--name',
          STACK_DISPLAY_NAMES[role as StackRole],
          '--password-stdin',
          '--if-not-exists',
        ],
        {
          stdout: (t) => (cliOut += t),
          stderr: (t) => (cliOut += t),
          readStdin: async () => STACK_PASSWORD,
          env: { ...process.env, ...identityEnv },
        },
      );
      if (code !== 0) throw new Error(`haven user invite ${role} exited ${code}: ${cliOut}`);
    }
    timings['users'] = Date.now() - tUsers;
    await others;
    timings['services'] = Date.now() - tOthers;

    const address = (port: number): string => `127.0.0.1:${port}`;
    const insecure = grpc.credentials.createInsecure();
    const sessionClients = sessionPorts.map(
      (port) => new session.SessionServiceClient(address(port), insecure),
    );
    const clients: StackClients = {
      identity: new identity.IdentityServiceClient(address(identityPort), insecure),
      scheduling: new scheduling.SchedulingServiceClient(address(schedulingPort), insecure),
      session: sessionClients[0]!,
    };
    stoppers.push(async () => {
      clients.identity.close();
      clients.scheduling.close();
      for (const c of sessionClients) c.close();
    });

    let gatewayUrl: string | null = null;
    let gatewayError: string | null = null;
    if (opts.gateway !== false) {
      const tGateway = Date.now();
      try {
        const gw = await startGateway(gatewayPort, {
          ...nats.env('gateway'),
          HAVEN_HTTP_PORT: String(gatewayPort),
          HAVEN_HTTP_HOST: '127.0.0.1',
          HAVEN_COOKIE_SECURE: 'false',
          HAVEN_JWKS_URL: jwksUrl,
          HAVEN_PATIENT_JWKS_URL: patientJwksUrl,
          HAVEN_IDENTITY_GRPC_ADDR: address(identityPort),
          HAVEN_SCHEDULING_GRPC_ADDR: address(schedulingPort),
          HAVEN_SESSION_GRPC_ADDR: address(sessionPort),
          HAVEN_AUDIT_GRPC_ADDR: address(auditPort),
          HAVEN_SESSION_MEDIA_URL: `ws://127.0.0.1:${sessionHttp}/media`,
          LOG_LEVEL: 'warn',
          ...opts.gatewayEnv,
        });
        stoppers.push(gw.stop);
        outputs.push({ name: 'gateway', output: gw.output });
        gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
      } catch (err) {
        gatewayError = err instanceof Error ? err.message : String(err);
      }
      timings['gateway'] = Date.now() - tGateway;
    }
    timings['total'] = Date.now() - t0;

    const login = async (role: StackRole): Promise<StackUser> => {
      const res = await callUnary(
        clients.identity,
        'login',
        identity.LoginRequest.fromPartial({ username: STACK_USERS[role], password: STACK_PASSWORD }),
        clientCallMetadata({}),
      );
      const token = res.tokens?.accessToken;
      if (!token) throw new Error(`login as ${role} returned no access token`);
      return { id: decodeSub(token), token, refreshToken: res.tokens?.refreshToken ?? '' };
    };

    return {
      nats,
      janus,
      janusWsUrl: janus.wsUrl,
      janusTokenSecret: tokenSecret,
      gatewayUrl,
      gatewayError,
      clients,
      sessionReplicas: sessionClients,
      sessionHttpUrls: sessionHttpPorts.map((port) => `http://127.0.0.1:${port}`),
      timings,
      login,
      logs,
      stop,
    };
  } catch (err) {
    const message = `${err instanceof Error ? err.message : String(err)}\n${logs(30)}`;
    await stop();
    throw new Error(`stack did not start: ${message}`, { cause: err });
  }
}
