/**
 * Test support: the real Haven stack for the gateway's tests. nats-server, Janus, and the built identity,
 * scheduling, session and audit services run as child processes (@haven/testing's `launchStack`, as the dev
 * stack runs them); the gateway runs in this
 * process (createGatewayApp + WsHub + the media relay on an ephemeral port) with real gRPC clients, the real
 * revocation feed and a real bus subscription. Staff users are created with identity's CLI.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { EventBus } from '@haven/bus';
import { audit, identity, passkeys, recording, scheduling, session } from '@haven/proto';
import { JetStreamEventStore, type EventStore, type PositionedEvent } from '@haven/eventstore';
import { RevocationFeed, createVerifierFromConfig, listening, type ClinicSettingsFeed } from '@haven/service';
import { launchStack, runIdentityCli, TEST_IDENTITY_ENV } from '@haven/testing';
import type { LaunchedStack, NatsServerHandle } from '@haven/testing';
import { createGatewayApp, type GatewayAppConfig } from '../src/app';
import { followGatewayClinicSettings, idleTimeoutSecOf } from '../src/idle-timeout';
import { MediaRelay } from '../src/media-ws';
import { subscribeHubFeeds, type HubFeeds } from '../src/hub-feed';
import { WsHub } from '../src/ws';
import type { GatewayClients } from '../src/context';
import type { WebSocket } from 'ws';
import type { NatsConnection } from 'nats';
import { captureLogs, liveSocket, signedIn, type CookieJar, type LiveSocket } from './gateway';

const ROOT = resolve(__dirname, '..', '..', '..');
export const WEB_ROOT = join(ROOT, 'web', 'dist');
/** The password of every user the stack creates. */
export const STACK_PASSWORD = 'Lantern-Harbor-Meadow-4821!';

/** A running stack. */
export interface TestStack {
  /** The gateway, `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly hub: WsHub;
  /** Every log line the gateway wrote. */
  readonly logs: string[];
  /**
   * The identity service's address and environment (for the CLI or a direct gRPC client, which presents
   * `credentials`: the gateway's certificate, as the services want mutual TLS).
   */
  readonly identity: {
    readonly address: string;
    readonly env: Readonly<Record<string, string>>;
    readonly credentials: ChannelCredentials;
  };
  /** The NATS server (to read the event store directly: `{ ...stack.nats.operator, name }`). */
  readonly nats: NatsServerHandle;
  /** The recording service's HAVEN_DATA_DIR, when it runs (see `recordingEnv`). */
  readonly recordingDataDir?: string;
  /** The session service's HAVEN_DATA_DIR (its chat keys and encrypted chat files). */
  readonly sessionDataDir: string;
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
  /**
   * Opens the event store as the NATS operator (to read or seed streams directly), as connection `name`;
   * the stack closes it when it stops.
   */
  openStore(name: string): Promise<JetStreamEventStore>;
  /** Signs `username` in through the gateway with {@link STACK_PASSWORD}; resolves with its cookies. */
  signIn(username: string): Promise<CookieJar>;
  /** Opens the live channel as `jar` (the patient's with `asPatient`); the stack terminates it when it stops. */
  liveSocket(jar: CookieJar, asPatient: boolean): Promise<LiveSocket>;
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
  /** Extra scheduling variables (e.g. the clinic's time zone). */
  readonly schedulingEnv?: Readonly<Record<string, string>>;
  /** Gateway settings over the stack's defaults. */
  readonly gateway?: Partial<GatewayAppConfig>;
  /** The gateway's port (default a free one), e.g. for a redirect URI registered before the stack starts. */
  readonly gatewayPort?: number;
  /** Extra session variables (e.g. the chat's file limit). */
  readonly sessionEnv?: Readonly<Record<string, string>>;
  /** Also run the recording service, with these extra variables. */
  readonly recordingEnv?: Readonly<Record<string, string>>;
}

/** What a stack started, in the order it is stopped. */
interface StackParts {
  launched?: LaunchedStack;
  extraServers: Server[];
  hub?: WsHub;
  relay?: MediaRelay;
  server?: Server;
  subscription?: HubFeeds;
  bus?: EventBus;
  feed?: RevocationFeed;
  clinicSettings?: ClinicSettingsFeed;
  store?: JetStreamEventStore;
  clients?: GatewayClients;
  /** The stores the suite opened with `openStore`. */
  suiteStores: JetStreamEventStore[];
}

/** Stops whatever of the stack started, gateway first, services last. Never rejects. */
async function stopParts(parts: StackParts): Promise<void> {
  for (const extra of parts.extraServers) await closeServer(extra);
  await parts.hub?.close().catch(() => undefined);
  await parts.relay?.close().catch(() => undefined);
  if (parts.server) await closeServer(parts.server);
  await parts.subscription?.close().catch(() => undefined);
  await parts.bus?.close().catch(() => undefined);
  await parts.feed?.close().catch(() => undefined);
  await parts.clinicSettings?.close().catch(() => undefined);
  await parts.store?.close().catch(() => undefined);
  for (const store of parts.suiteStores) await store.close().catch(() => undefined);
  parts.clients?.identity.close();
  parts.clients?.passkeys?.close();
  parts.clients?.scheduling.close();
  parts.clients?.session?.close();
  parts.clients?.audit?.close();
  parts.clients?.recording?.close();
  await parts.launched?.stop();
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

/** The services as child processes; the gateway runs here, on the port the stack reserved for it. */
function launchServices(options: StackOptions): Promise<LaunchedStack> {
  return launchStack({
    services: [
      'identity',
      'scheduling',
      'session',
      'audit',
      ...(options.recordingEnv ? (['recording'] as const) : []),
    ],
    ...(options.gatewayPort !== undefined ? { ports: { gateway: { http: options.gatewayPort } } } : {}),
    env: {
      identity: {
        ...TEST_IDENTITY_ENV,
        HAVEN_MFA_REQUIRED_ROLES: options.mfaRequiredRoles ?? 'none',
        ...options.identityEnv,
      },
      ...(options.schedulingEnv ? { scheduling: { ...options.schedulingEnv } } : {}),
      ...(options.sessionEnv ? { session: { ...options.sessionEnv } } : {}),
      ...(options.recordingEnv ? { recording: { ...options.recordingEnv } } : {}),
    },
  });
}

/** gRPC clients of the launched services, with the gateway's certificate (the in-process gateway uses them). */
function clientsOf(launched: LaunchedStack) {
  const address = (service: keyof LaunchedStack['ports']) => `127.0.0.1:${launched.ports[service].grpc!}`;
  const tls = launched.pki.grpcCredentials('gateway');
  return {
    identity: new identity.IdentityServiceClient(address('identity'), tls),
    passkeys: new passkeys.PasskeyServiceClient(address('identity'), tls),
    scheduling: new scheduling.SchedulingServiceClient(address('scheduling'), tls),
    session: new session.SessionServiceClient(address('session'), tls),
    audit: new audit.AuditServiceClient(address('audit'), tls),
    ...(launched.services.has('recording')
      ? { recording: new recording.RecordingServiceClient(address('recording'), tls) }
      : {}),
  };
}

/** Creates an active staff user with identity's CLI (`haven user invite`); resolves with its id. */
export async function inviteUser(
  identityEnv: Readonly<Record<string, string>>,
  user: { email: string; role: string; name?: string | undefined },
): Promise<string> {
  const args = ['user', 'invite', '--email', user.email, '--role', user.role];
  if (user.name) args.push('--name', user.name);
  const { code, output } = await runIdentityCli([...args, '--password-stdin'], {
    env: identityEnv,
    stdin: STACK_PASSWORD,
  });
  const id = /users\/([a-z0-9-]+)/.exec(output)?.[1];
  if (code !== 0 || !id) throw new Error(`haven user invite exited ${code}:\n${output}`);
  return id;
}

/**
 * The gateway in this process: the app, the WebSocket hub and the media relay on one server, the revocation
 * feed closing their sockets, the bus subscription feeding the hub. Records what it started in `parts`.
 */
async function startGatewayHere(parts: StackParts, launched: LaunchedStack, options: StackOptions) {
  const { logs, logger } = captureLogs();
  const clients = (parts.clients = clientsOf(launched));
  const nats = launched.nats;
  const feed = (parts.feed = await RevocationFeed.connect({ ...nats.client('gateway'), logger }));
  const tokenVerifier = createVerifierFromConfig(
    {
      HAVEN_JWKS_URL: launched.jwksUrl,
      HAVEN_PATIENT_JWKS_URL: launched.patientJwksUrl,
      HAVEN_JWT_ISSUER: 'haven-identity',
      HAVEN_JWT_AUDIENCE: 'haven',
    },
    { revocations: feed },
  );
  const server = (parts.server = createServer());
  const idleTimeoutMs = options.idleTimeoutMs ?? 15 * 60_000;
  // The clinic's settings as the gateway follows them (with the gateway's own NATS user): an admin's idle timeout.
  const store = (parts.store = await JetStreamEventStore.connect({
    ...nats.client('gateway'),
    name: 'gateway-test-store',
  }));
  const clinicSettings = (parts.clinicSettings = await followGatewayClinicSettings(store));
  const idleTimeoutSec = Math.max(1, Math.round(idleTimeoutMs / 1000));
  const hub = (parts.hub = WsHub.attach({
    server,
    clients,
    logger,
    tokenVerifier,
    idleTimeoutMs: () => idleTimeoutSecOf(clinicSettings, idleTimeoutMs / 1000)() * 1000,
    heartbeatMs: 5000,
  }));
  const sessionMediaUrl = `ws://127.0.0.1:${launched.ports.session.http!}/media`;
  const media = (parts.relay = MediaRelay.attach({ server, sessionMediaUrl, logger, tokenVerifier }));
  feed.onRevoked((r) => {
    hub.revoked(r);
    media.revoked(r);
  });
  const gatewayConfig = (overrides: Partial<GatewayAppConfig>): GatewayAppConfig => ({
    webRoot: WEB_ROOT,
    authRateLimit: { limit: 1000, windowMs: 60_000 },
    janusJsPath: '/usr/share/javascript/janus-gateway/janus.js',
    idleTimeoutSec,
    emailUnsubscribeUrl: new URL('/email/unsubscribe', launched.patientJwksUrl).toString(),
    ...options.gateway,
    ...overrides,
  });
  server.on(
    'request',
    createGatewayApp({
      clients,
      logger,
      tokenVerifier,
      media: hub,
      clinicSettings,
      config: gatewayConfig({}),
    }),
  );
  const startGateway = async (overrides: Partial<GatewayAppConfig>): Promise<string> => {
    const extra = createServer(
      createGatewayApp({ clients, logger, tokenVerifier, config: gatewayConfig(overrides) }),
    );
    parts.extraServers.push(extra);
    return `http://127.0.0.1:${await listening(extra, 0, '127.0.0.1')}`;
  };
  const bus = (parts.bus = await EventBus.connect({ ...nats.client('gateway'), name: 'gateway-test' }));
  parts.subscription = await subscribeHubFeeds(bus, hub, {
    durable: `gateway-${hostname().replace(/[^A-Za-z0-9_-]/g, '-')}-${process.pid}`,
  });
  const port = await listening(server, launched.ports.gateway.http!, '127.0.0.1');
  return { url: `http://127.0.0.1:${port}`, hub, logs, startGateway };
}

/** Starts everything. Rejects (after cleaning up what started) when something does not come up. */
export async function startStack(options: StackOptions = {}): Promise<TestStack> {
  const parts: StackParts = { extraServers: [], suiteStores: [] };
  const sockets: WebSocket[] = [];
  const stop = async () => {
    for (const socket of sockets) socket.terminate();
    await stopParts(parts);
  };
  try {
    const launched = (parts.launched = await launchServices(options));
    const identityEnv = launched.service('identity').env;
    const gateway = await startGatewayHere(parts, launched, options);
    return {
      ...gateway,
      identity: {
        address: `127.0.0.1:${launched.ports.identity.grpc!}`,
        env: identityEnv,
        credentials: launched.pki.grpcCredentials('gateway'),
      },
      nats: launched.nats,
      sessionDataDir: launched.service('session').env['HAVEN_DATA_DIR'] ?? '',
      ...(launched.services.has('recording')
        ? { recordingDataDir: launched.service('recording').env['HAVEN_DATA_DIR'] ?? '' }
        : {}),
      createUser: (email, role, name) => inviteUser(identityEnv, { email, role, name }),
      openStore: async (name) => {
        const store = await JetStreamEventStore.connect({ ...launched.nats.operator, name });
        parts.suiteStores.push(store);
        return store;
      },
      signIn: (username) => signedIn(gateway.url, username, STACK_PASSWORD),
      liveSocket: (jar, asPatient) => liveSocket(gateway.url, jar, { asPatient, sockets }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A started stack with the cast most suites begin with, and a NATS connection of the suite's own. */
export interface Clinic {
  readonly stack: TestStack;
  readonly nc: NatsConnection;
  /** The user id of the clinician `cara@<domain>` (Dr Cara Ng). */
  readonly clinician: string;
  /** The user id of another clinician, `bo@<domain>` (Dr Bo Ek). */
  readonly otherClinician: string;
}

/**
 * Starts the stack (`options` as {@link startStack}), connects to its NATS and creates the front desk
 * `desk@<domain>` and the clinicians `cara@<domain>` and `bo@<domain>`. Rejects (after stopping what started)
 * when something does not come up.
 */
export async function startClinic(domain: string, options: StackOptions = {}): Promise<Clinic> {
  const stack = await startStack(options);
  let nc: NatsConnection | undefined;
  try {
    nc = await stack.nats.connect();
    await stack.createUser(`desk@${domain}`, 'front_desk', 'Front Desk');
    const clinician = await stack.createUser(`cara@${domain}`, 'clinician', 'Dr Cara Ng');
    const otherClinician = await stack.createUser(`bo@${domain}`, 'clinician', 'Dr Bo Ek');
    return { stack, nc, clinician, otherClinician };
  } catch (err) {
    await nc?.close();
    await stack.stop();
    throw err;
  }
}

/** The ClinicSettingsChanged events an admin's saves stored, oldest first. */
export async function clinicSettingsChanges(store: Pick<EventStore, 'read'>): Promise<PositionedEvent[]> {
  return (await store.read('scheduling.clinic_settings-clinic')).filter(
    (e) => e.type === 'haven.scheduling.v1.ClinicSettingsChanged',
  );
}
