/**
 * Test support: the real Haven stack for the gateway's tests. nats-server, Janus, and the built identity,
 * scheduling, session and audit services run as child processes (@haven/testing's `launchStack`, as the dev
 * stack runs them); the gateway runs in this
 * process (createGatewayApp + WsHub + the media relay on an ephemeral port) with real gRPC clients, the real
 * revocation feed and a real bus subscription. Staff users are created with identity's CLI.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { credentials } from '@grpc/grpc-js';
import { EventBus } from '@haven/bus';
import type { BusSubscription } from '@haven/bus';
import { audit, identity, scheduling, session } from '@haven/proto';
import { RevocationFeed, createLogger, createVerifierFromConfig } from '@haven/service';
import { launchStack } from '@haven/testing';
import type { LaunchedStack, NatsServerHandle } from '@haven/testing';
import { createGatewayApp, type GatewayAppConfig } from '../src/app';
import { MediaRelay } from '../src/media-ws';
import { WsHub } from '../src/ws';

const ROOT = resolve(__dirname, '..', '..', '..');
export const WEB_ROOT = join(ROOT, 'web', 'public');
/** The password of every user the stack creates. */
export const STACK_PASSWORD = 'Lantern-Harbor-Meadow-4821!';

/** A running stack. */
export interface TestStack {
  /** The gateway, `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly hub: WsHub;
  /** Every log line the gateway wrote. */
  readonly logs: string[];
  /** The identity service's data directory and environment (for the CLI or a direct gRPC client). */
  readonly identity: { readonly address: string; readonly env: Readonly<Record<string, string>> };
  /** The NATS server (to read the event store directly: `{ ...stack.nats.operator, name }`). */
  readonly nats: NatsServerHandle;
  /**
   * Starts one more gateway app over the same services with other settings (e.g. a different trusted proxy
   * list); stopped with the stack. Resolves with its base URL.
   */
  startGateway(config: Partial<GatewayAppConfig>): Promise<string>;
  /** Creates an active staff user (username = email) and returns its user id. */
  createUser(
    email: string,
    role: 'admin' | 'clinician' | 'front_desk' | 'auditor',
    name?: string,
  ): Promise<string>;
  stop(): Promise<void>;
}

/** Options of {@link startStack}. */
export interface StackOptions {
  /** Roles that must enroll TOTP (identity's HAVEN_MFA_REQUIRED_ROLES). Default `none`. */
  readonly mfaRequiredRoles?: string;
  /** Staff WebSocket idle timeout, ms. Default 15 min. */
  readonly idleTimeoutMs?: number;
  /** Extra identity variables, over the stack's test defaults (which switch the login throttles off). */
  readonly identityEnv?: Readonly<Record<string, string>>;
  /** Gateway settings over the stack's defaults. */
  readonly gateway?: Partial<GatewayAppConfig>;
}

/** Starts everything. Rejects (after cleaning up what started) when something does not come up. */
export async function startStack(options: StackOptions = {}): Promise<TestStack> {
  let launched: LaunchedStack | undefined;
  let server: Server | undefined;
  let hub: WsHub | undefined;
  let relay: MediaRelay | undefined;
  let feed: RevocationFeed | undefined;
  let bus: EventBus | undefined;
  let subscription: BusSubscription | undefined;
  const extraServers: Server[] = [];
  const clients = {
    identity: undefined as identity.IdentityServiceClient | undefined,
    scheduling: undefined as scheduling.SchedulingServiceClient | undefined,
    session: undefined as session.SessionServiceClient | undefined,
    audit: undefined as audit.AuditServiceClient | undefined,
  };
  const stop = async () => {
    for (const extra of extraServers) {
      extra.closeAllConnections();
      await new Promise<void>((r) => extra.close(() => r()));
    }
    await hub?.close().catch(() => undefined);
    await relay?.close().catch(() => undefined);
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((r) => server!.close(() => r()));
    }
    await subscription?.close().catch(() => undefined);
    await bus?.close().catch(() => undefined);
    await feed?.close().catch(() => undefined);
    clients.identity?.close();
    clients.scheduling?.close();
    clients.session?.close();
    clients.audit?.close();
    await launched?.stop();
  };

  try {
    // The services as child processes; the gateway runs here, on the port the stack reserved for it.
    launched = await launchStack({
      services: ['identity', 'scheduling', 'session', 'audit'],
      env: {
        identity: {
          HAVEN_ARGON2_MEMORY_KIB: '1024',
          HAVEN_ARGON2_TIME_COST: '1',
          HAVEN_LOGIN_IP_BURST: '10000',
          HAVEN_LOGIN_IP_PER_MINUTE: '10000',
          HAVEN_MFA_REQUIRED_ROLES: options.mfaRequiredRoles ?? 'none',
          ...options.identityEnv,
        },
      },
    });
    const nats = launched.nats;
    const identityEnv = launched.service('identity').env;
    const common = { HAVEN_JWKS_URL: launched.jwksUrl, HAVEN_PATIENT_JWKS_URL: launched.patientJwksUrl };
    const gwPort = launched.ports.gateway.http!;
    const sessHttp = launched.ports.session.http!;
    const [idPort, schedPort, sessPort, auditPort] = [
      launched.ports.identity.grpc!,
      launched.ports.scheduling.grpc!,
      launched.ports.session.grpc!,
      launched.ports.audit.grpc!,
    ];

    const logs: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(chunk.toString('utf8'));
        cb();
      },
    });
    const logger = createLogger({ service: 'gateway', level: 'debug', destination });
    clients.identity = new identity.IdentityServiceClient(
      `127.0.0.1:${idPort}`,
      credentials.createInsecure(),
    );
    clients.scheduling = new scheduling.SchedulingServiceClient(
      `127.0.0.1:${schedPort}`,
      credentials.createInsecure(),
    );
    clients.session = new session.SessionServiceClient(`127.0.0.1:${sessPort}`, credentials.createInsecure());
    const grpcClients = {
      identity: clients.identity,
      scheduling: clients.scheduling,
      session: clients.session,
      audit: (clients.audit = new audit.AuditServiceClient(
        `127.0.0.1:${auditPort}`,
        credentials.createInsecure(),
      )),
    };
    feed = await RevocationFeed.connect({ ...nats.client('gateway'), logger });
    const tokenVerifier = createVerifierFromConfig(
      { ...common, HAVEN_JWT_ISSUER: 'haven-identity', HAVEN_JWT_AUDIENCE: 'haven' },
      { revocations: feed },
    );
    server = createServer();
    hub = WsHub.attach({
      server,
      clients: grpcClients,
      logger,
      tokenVerifier,
      idleTimeoutMs: options.idleTimeoutMs ?? 15 * 60_000,
      heartbeatMs: 5000,
    });
    const theHub = hub;
    const media = MediaRelay.attach({
      server,
      sessionMediaUrl: `ws://127.0.0.1:${sessHttp}/media`,
      logger,
      tokenVerifier,
    });
    relay = media;
    feed.onRevoked((r) => {
      theHub.revoked(r);
      media.revoked(r);
    });
    const gatewayConfig = (overrides: Partial<GatewayAppConfig>): GatewayAppConfig => ({
      webRoot: WEB_ROOT,
      authRateLimit: { limit: 1000, windowMs: 60_000 },
      janusJsPath: '/usr/share/javascript/janus-gateway/janus.js',
      idleTimeoutSec: Math.max(1, Math.round((options.idleTimeoutMs ?? 15 * 60_000) / 1000)),
      ...options.gateway,
      ...overrides,
    });
    server.on(
      'request',
      createGatewayApp({
        clients: grpcClients,
        logger,
        tokenVerifier,
        media: hub,
        config: gatewayConfig({}),
      }),
    );
    const startGateway = async (overrides: Partial<GatewayAppConfig>): Promise<string> => {
      const extra = createServer(
        createGatewayApp({ clients: grpcClients, logger, tokenVerifier, config: gatewayConfig(overrides) }),
      );
      extraServers.push(extra);
      await new Promise<void>((res, rej) => {
        extra.once('error', rej);
        extra.listen(0, '127.0.0.1', () => res());
      });
      return `http://127.0.0.1:${(extra.address() as AddressInfo).port}`;
    };
    bus = await EventBus.connect({ ...nats.client('gateway'), name: 'gateway-test' });
    subscription = await bus.subscribe({
      durable: `gateway-${hostname().replace(/[^A-Za-z0-9_-]/g, '-')}-${process.pid}`,
      subjects: ['haven.bus.session.>'],
      handler: async (event) => theHub.event(event),
    });
    await new Promise<void>((res, rej) => {
      server!.once('error', rej);
      server!.listen(gwPort, '127.0.0.1', () => res());
    });
    const port = (server.address() as AddressInfo).port;

    const createUser: TestStack['createUser'] = (email, role, name) =>
      new Promise((res, rej) => {
        const child = spawn(
          process.execPath,
          [
            join(ROOT, 'services/identity/dist/cli.js'),
            'user',
            'invite',
            '--email',
            email,
            '--role',
            role,
            ...(name ? ['--name', name] : []),
            '--password-stdin',
          ],
          {
            cwd: ROOT,
            env: { PATH: process.env.PATH ?? '', ...identityEnv },
            stdio: ['pipe', 'pipe', 'pipe'],
          },
        );
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.once('exit', (code) => {
          clearTimeout(timer);
          const id = /users\/([a-z0-9-]+)/.exec(out)?.[1];
          if (code === 0 && id) res(id);
          else rej(new Error(`haven user invite exited ${code}:\n${out}`));
        });
        child.stdin.end(`${STACK_PASSWORD}\n`);
      });

    return {
      url: `http://127.0.0.1:${port}`,
      hub,
      logs,
      identity: { address: `127.0.0.1:${idPort}`, env: identityEnv },
      nats,
      startGateway,
      createUser,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
