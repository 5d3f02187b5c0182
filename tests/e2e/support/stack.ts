/**
 * The stack of the browser tests (a layer over @haven/testing's `launchStack`), run INSIDE a network namespace
 * (see `runInNetns` in @haven/testing): nats-server, Janus (signed-token core auth, videoroom admin key,
 * `ice_enforce_list = v0`, event handler posting to the session service), and the built identity, scheduling, session, audit and gateway
 * services (and, with `recordingEnv`, the recording service) as child processes, all on 127.0.0.1 inside the namespace. Staff users are created with identity's
 * real CLI (app layer) and sign in through identity's Login RPC; MFA is relaxed for the test
 * (HAVEN_MFA_REQUIRED_ROLES=none). Nothing leaves the namespace; no STUN/TURN.
 *
 *   const stack = await startStack();
 *   const fd = await stack.login('front_desk');
 *   ... stack.clients.scheduling / stack.call(...) ...
 *   await stack.stop();
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { identity, scheduling, session } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import {
  type JanusHandle,
  type LaunchedStack,
  launchStack,
  type NatsServerHandle,
  REPO_ROOT as ROOT,
  TEST_IDENTITY_ENV,
} from '@haven/testing';
/** Password of every test user. */
export const STACK_PASSWORD = 'Visit-Media-Lantern-4821!';
/** The staff users the stack creates: role -> e-mail. */
export const STACK_USERS = {
  front_desk: 'frontdesk@visit.test',
  clinician: 'dr.visit@visit.test',
  /** A second clinician: invited into a visit as a guest (an interpreter, a colleague). */
  colleague: 'colleague@visit.test',
  auditor: 'auditor@visit.test',
  /** An admin: the admin console (users, clinic settings, usage, templates). */
  admin: 'admin@visit.test',
} as const;
export type StackRole = keyof typeof STACK_USERS;
/** The display names the stack gives its staff users (the front desk picks the clinician by this name). */
export const STACK_DISPLAY_NAMES: Readonly<Record<StackRole, string>> = {
  front_desk: 'Front Desk',
  clinician: 'Dr Demo Clinician',
  auditor: 'Audra Auditor',
  colleague: 'Dr Demo Colleague',
  admin: 'Ada Admin',
};
/** The identity role of each stack user. */
export const STACK_ROLES: Readonly<Record<StackRole, 'front_desk' | 'clinician' | 'auditor' | 'admin'>> = {
  front_desk: 'front_desk',
  clinician: 'clinician',
  colleague: 'clinician',
  auditor: 'auditor',
  admin: 'admin',
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
  /** Also create the `colleague` (a second clinician) — off by default, so other suites' screens keep one. */
  readonly colleague?: boolean;
  /**
   * Also run the recording service on Janus's recordings directory (stopped recordings become encrypted WebM),
   * with these extra variables (e.g. HAVEN_RECORDING_PATIENT_ACCESS).
   */
  readonly recordingEnv?: Readonly<Record<string, string>>;
}

function decodeSub(jwt: string): string {
  const payload = jwt.split('.')[1] ?? '';
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: string };
  if (!claims.sub) throw new Error('token without sub');
  return claims.sub;
}

/**
 * Starts the whole stack. Must run inside a network namespace (Janus enforces ICE on `v0`).
 * Throws Error when a part does not start (everything already started is stopped; the message has logs).
 */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  let gatewayError: string | null = null;
  const timings: Record<string, number> = {};
  // The recording service reads what Janus writes: one directory both know before they start.
  const recordingsDir = opts.recordingEnv ? mkdtempSync(join(tmpdir(), 'haven-recordings-')) : undefined;
  const launched: LaunchedStack = await launchStack({
    services: [
      'identity',
      'scheduling',
      'session',
      ...(opts.audit === false ? [] : (['audit'] as const)),
      ...(opts.recordingEnv ? (['recording'] as const) : []),
      ...(opts.gateway === false ? [] : (['gateway'] as const)),
    ],
    janus: {
      ...(opts.netns === false ? {} : { iceEnforceList: 'v0' }),
      eventHandlerEvents: 'plugins',
      debugLevel: 2,
      ...(recordingsDir ? { recordingsDir } : {}),
    },
    sessionReplicas: Math.max(1, opts.sessionReplicas ?? 1),
    env: {
      identity: {
        ...TEST_IDENTITY_ENV,
        HAVEN_MFA_REQUIRED_ROLES: 'none',
        ...opts.identityEnv,
      },
      gateway: {
        HAVEN_HTTP_HOST: '127.0.0.1',
        HAVEN_COOKIE_SECURE: 'false',
        LOG_LEVEL: 'warn',
        ...opts.gatewayEnv,
      },
      ...(opts.recordingEnv && recordingsDir
        ? { recording: { HAVEN_RECORDINGS_DIR: recordingsDir, LOG_LEVEL: 'warn', ...opts.recordingEnv } }
        : {}),
    },
    // The gateway may fail alone (reported in gatewayError); any other service fails the stack.
    onNotReady: (name, error) => {
      if (name !== 'gateway') throw error;
      gatewayError = error.message;
    },
    // Staff users through identity's CLI app layer (the same code path as the RPCs), while the others start.
    whileStarting: async (stack) => {
      const tUsers = Date.now();
      await inviteStaff(stack.service('identity').env, opts.colleague === true);
      timings['users'] = Date.now() - tUsers;
    },
  });
  Object.assign(timings, launched.timings);
  const address = (port: number | undefined): string => `127.0.0.1:${port}`;
  const tls = launched.pki.grpcCredentials('integration');
  const sessions = [...launched.services.values()].filter((s) => s.service === 'session');
  const sessionClients = sessions.map((s) => new session.SessionServiceClient(address(s.grpcPort), tls));
  const clients: StackClients = {
    identity: new identity.IdentityServiceClient(launched.address('identity'), tls),
    scheduling: new scheduling.SchedulingServiceClient(launched.address('scheduling'), tls),
    session: sessionClients[0]!,
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    clients.identity.close();
    clients.scheduling.close();
    for (const c of sessionClients) c.close();
    await launched.stop();
    if (recordingsDir) rmSync(recordingsDir, { recursive: true, force: true });
  };
  const gateway = launched.services.get('gateway');

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
    nats: launched.nats,
    janus: launched.janus!,
    janusWsUrl: launched.janus!.wsUrl,
    janusTokenSecret: launched.janusSecrets.tokenSecret,
    gatewayUrl: gateway && gatewayError === null ? (gateway.url ?? null) : null,
    gatewayError,
    clients,
    sessionReplicas: sessionClients,
    sessionHttpUrls: sessions.map((s) => s.url ?? ''),
    timings,
    login,
    logs: (lines = 20) => launched.logs(lines),
    stop,
  };
}

/** Creates the staff users with identity's CLI, in this process (the app layer, as the RPCs use it). */
async function inviteStaff(identityEnv: Readonly<Record<string, string>>, colleague: boolean): Promise<void> {
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
    if (role === 'colleague' && !colleague) continue;
    let cliOut = '';
    const code = await runCli(
      [
        'user',
        'invite',
        '--email',
        email,
        '--role',
        STACK_ROLES[role as StackRole],
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
}
