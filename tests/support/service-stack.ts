/**
 * Test helper: the Haven services (identity, scheduling, session, recording, audit) as built child processes on a
 * real nats-server (and Janus, when session runs) — @haven/testing's `launchStack` — plus a signed-in caller of every kind, each obtained the way
 * a real client gets one: staff users are created with identity's CLI and sign in through Login; service
 * accounts are created by the admin (CreateServiceAccount) and get their token from IssueServiceAccountToken;
 * the patient redeems a real link issued for a real appointment (when scheduling runs). A reader of the whole
 * event store lets a test see what every call appended.
 *
 *   const stack = await startServiceStack({ services: ['scheduling', 'audit'] });
 *   const client = stack.rawClient('haven.audit.v1.AuditService');
 *   ... stack.token('admin') ... await stack.events() ...
 *   await stack.stop();
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { authorize, POLICY, SCOPES, type AuthorizationSubject } from '@haven/auth';
import { JetStreamEventStore, type PositionedEvent, type Subscription } from '@haven/eventstore';
import { havenServiceOf, identity, scheduling, SERVICE_NAMES } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import {
  bookVisit,
  type CliResult,
  createPatient,
  healthStatus,
  issueLink,
  type LaunchedStack,
  launchStack,
  type NatsServerHandle,
  redeemLink,
  runIdentityCli,
  type StackService,
  TEST_IDENTITY_ENV,
} from '@haven/testing';

/** The services besides identity (which always runs). */
export type OptionalService = 'scheduling' | 'session' | 'recording' | 'audit';

/** Every kind of caller the stack signs in. */
export const STACK_CALLERS = [
  'admin',
  'clinician',
  'front_desk',
  'auditor',
  'patient',
  'service_account_all_scopes',
  'service_account_audit_read',
  'no_token',
] as const;
export type StackCaller = (typeof STACK_CALLERS)[number];
/** The access-policy subject of a stack caller (undefined without a token). */
export function subjectOfCaller(caller: StackCaller): AuthorizationSubject | undefined {
  switch (caller) {
    case 'patient':
      return { kind: 'patient', scopes: [] };
    case 'service_account_all_scopes':
      return { kind: 'service_account', scopes: SCOPES };
    case 'service_account_audit_read':
      return { kind: 'service_account', scopes: ['audit.events.read'] };
    case 'no_token':
      return undefined;
    default:
      return { kind: 'user', role: caller, scopes: [] };
  }
}

/** The callers the access policy lets call `path` (`no_token` alone for public methods). */
export function allowedCallers(path: string): StackCaller[] {
  if (POLICY[path]?.public === true) return ['no_token'];
  return STACK_CALLERS.filter((c) => c !== 'no_token' && authorize(path, subjectOfCaller(c)).allowed);
}

/** The staff roles the stack creates (username `<role>@stack.test`). */
export const STACK_STAFF = ['admin', 'clinician', 'front_desk', 'auditor'] as const;
/** The password of every staff user. */
export const SERVICE_STACK_PASSWORD = 'Stack-Harbor-Lantern-4821!';

/** Options of {@link startServiceStack}. */
export interface ServiceStackOptions {
  /** Services to run besides identity. Default all. */
  readonly services?: readonly OptionalService[];
  /** Extra identity variables (e.g. HAVEN_IDLE_TIMEOUT_SEC). */
  readonly identityEnv?: Readonly<Record<string, string>>;
  /** Sign the callers in (default true). */
  readonly callers?: boolean;
}

/** A running stack. */
/** A ts-proto generated client class: constructed with an address and credentials, named by its service. */
export interface GeneratedClient<C extends grpc.Client> {
  new (address: string, credentials: grpc.ChannelCredentials): C;
  readonly serviceName: string;
}

export interface ServiceStack {
  /** Channel credentials of a test client: the `integration` workload's certificate (the services want mTLS). */
  readonly credentials: grpc.ChannelCredentials;
  readonly nats: NatsServerHandle;
  /** The state directory (each service's data in `data/<name>`). */
  readonly dir: string;
  /** The identity environment (the CLI uses it too). */
  readonly identityEnv: Readonly<Record<string, string>>;
  /** Full proto service name (`haven.identity.v1.IdentityService`) → `127.0.0.1:<port>`. */
  readonly addresses: ReadonlyMap<string, string>;
  /** The running processes, by short name (`identity`, `audit`…). */
  readonly processes: ReadonlyMap<string, StackService>;
  /** A raw grpc-js client of a service (full proto name); closed by `stop()`. */
  rawClient(service: string): grpc.Client;
  /** A new typed client (a generated client class) of one of the stack's services; the caller closes it. */
  connect<C extends grpc.Client>(Client: GeneratedClient<C>): C;
  /** The bearer token of a caller, or undefined for `no_token`. */
  token(caller: StackCaller): string | undefined;
  /** Signs the staff callers in again (new sessions, new tokens), e.g. after a test logged them out. */
  signInStaff(): Promise<void>;
  /** Runs identity's CLI (`haven …`) with the stack's identity environment; resolves with its output. */
  cli(args: readonly string[], stdin?: string): Promise<{ code: number; output: string }>;
  /** Every event stored so far, in store order (read from the start of the store). */
  events(): Promise<readonly PositionedEvent[]>;
  /** True when every process is still running and SERVING. */
  healthy(): Promise<boolean>;
  /** The last lines of every process's output. */
  logs(lines?: number): string;
  /** Stops everything (reverse order) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts identity and the chosen services. Rejects (after stopping what started) when one does not come up.
 */
export async function startServiceStack(options: ServiceStackOptions = {}): Promise<ServiceStack> {
  const wanted = new Set<OptionalService>(
    options.services ?? ['scheduling', 'session', 'recording', 'audit'],
  );
  const clients = new Map<string, grpc.Client>();
  const addresses = new Map<string, string>();
  const tokens = new Map<StackCaller, string>();
  let launched: LaunchedStack | undefined;
  let store: JetStreamEventStore | undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const client of clients.values()) client.close();
    await store?.close().catch(() => undefined);
    await launched?.stop();
  };
  const logs = (lines = 30): string => launched?.logs(lines) ?? '';

  try {
    let identityEnv: Record<string, string> = {};
    const cli = (args: readonly string[], stdin = ''): Promise<CliResult> =>
      runIdentityCli(args, { env: identityEnv, stdin });
    launched = await launchStack({
      services: ['identity', ...wanted],
      env: {
        identity: {
          ...TEST_IDENTITY_ENV,
          HAVEN_MFA_REQUIRED_ROLES: 'none',
          ...options.identityEnv,
        },
      },
      janus: { eventHandler: false },
      // Staff users through identity's CLI while the other services start.
      whileStarting: async (stack) => {
        identityEnv = { ...stack.service('identity').env };
        if (options.callers === false) return;
        for (const role of STACK_STAFF) {
          const r = await cli(
            ['user', 'invite', '--email', `${role}@stack.test`, '--role', role, '--password-stdin'],
            SERVICE_STACK_PASSWORD,
          );
          if (r.code !== 0) throw new Error(`haven user invite ${role} exited ${r.code}:\n${r.output}`);
        }
      },
    });
    const nats = launched.nats;
    const credentials = launched.pki.grpcCredentials('integration');
    const processes = new Map<string, StackService>();
    for (const [name, service] of launched.services) {
      processes.set(name, service);
      if (service.address)
        addresses.set(SERVICE_NAMES[service.service as keyof typeof SERVICE_NAMES], service.address);
    }

    const rawClient = (service: string): grpc.Client => {
      const existing = clients.get(service);
      if (existing) return existing;
      const owner = havenServiceOf(service);
      const address = addresses.get(service) ?? (owner ? addresses.get(SERVICE_NAMES[owner]) : undefined);
      if (!address) throw new Error(`the stack does not run ${service}`);
      const client = new grpc.Client(address, credentials);
      clients.set(service, client);
      return client;
    };

    const connect = <C extends grpc.Client>(Client: GeneratedClient<C>): C => {
      const address = addresses.get(Client.serviceName);
      if (!address) throw new Error(`the stack does not run ${Client.serviceName}`);
      return new Client(address, credentials);
    };

    const signInStaff = async (): Promise<void> => {
      const client = connect(identity.IdentityServiceClient);
      try {
        for (const role of STACK_STAFF) {
          const res = await callUnary(
            client,
            'login',
            identity.LoginRequest.fromPartial({
              username: `${role}@stack.test`,
              password: SERVICE_STACK_PASSWORD,
            }),
            clientCallMetadata({}),
          );
          if (!res.tokens?.accessToken) throw new Error(`no access token for ${role}`);
          tokens.set(role, res.tokens.accessToken);
        }
      } finally {
        client.close();
      }
    };
    if (options.callers !== false) {
      const identityClient = connect(identity.IdentityServiceClient);
      clients.set('typed:identity', identityClient);
      await signInStaff();
      const admin = clientCallMetadata({ token: tokens.get('admin')! });
      for (const [caller, scopes] of [
        ['service_account_all_scopes', [...(await allScopes())]],
        ['service_account_audit_read', ['audit.events.read']],
      ] as const) {
        const id = `sa-${scopes.length}-${randomBytes(3).toString('hex')}`;
        const created = await callUnary(
          identityClient,
          'createServiceAccount',
          identity.CreateServiceAccountRequest.fromPartial({
            serviceAccount: {
              displayName: `Stack ${caller}`,
              scopes: [...scopes],
            },
            serviceAccountId: id,
          }),
          admin,
        );
        const issued = await callUnary(
          identityClient,
          'issueServiceAccountToken',
          identity.IssueServiceAccountTokenRequest.fromPartial({
            clientId: created.serviceAccount?.clientId ?? id,
            clientSecret: created.clientSecret,
          }),
          clientCallMetadata({}),
        );
        tokens.set(caller, issued.accessToken);
      }
      if (wanted.has('scheduling')) tokens.set('patient', await patientToken(addresses, tokens, credentials));
    }

    store = await JetStreamEventStore.connect({ ...nats.operator, name: 'service-stack-reader' });
    const reader = store;
    const events = async (): Promise<readonly PositionedEvent[]> => {
      const out: PositionedEvent[] = [];
      let subscription: Subscription | undefined;
      const nc = await nats.connect();
      let last = 0;
      try {
        const jsm = await nc.jetstreamManager();
        last = (await jsm.streams.info('HAVEN_ES')).state.last_seq;
      } finally {
        await nc.close();
      }
      if (last === 0) return out;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('event store not read within 30 s')), 30_000);
        void reader
          .subscribe({
            from: 'start',
            handler: async (event) => {
              out.push(event);
              if (event.position >= BigInt(last)) {
                clearTimeout(timer);
                resolve();
              }
            },
            onError: (error) => {
              clearTimeout(timer);
              reject(error instanceof Error ? error : new Error(String(error)));
            },
          })
          .then((s) => (subscription = s), reject);
      });
      await subscription?.close();
      return out;
    };

    const healthy = async (): Promise<boolean> => {
      for (const address of addresses.values()) {
        if ((await healthStatus(address, 2000, '', credentials)) !== 1) return false;
      }
      return true;
    };

    return {
      credentials,
      nats,
      dir: launched.dir,
      identityEnv,
      addresses,
      processes,
      rawClient,
      connect,
      token: (caller) => (caller === 'no_token' ? undefined : tokens.get(caller)),
      signInStaff,
      cli,
      events,
      healthy,
      logs,
      stop,
    };
  } catch (error) {
    const message = `${error instanceof Error ? error.message : String(error)}\n${logs(30)}`;
    await stop();
    throw new Error(`service stack did not start: ${message}`, { cause: error });
  }
}

async function allScopes(): Promise<readonly string[]> {
  return SCOPES;
}

/** A real patient token: front desk registers a patient, books with the clinician, issues a link; it is redeemed. */
async function patientToken(
  addresses: ReadonlyMap<string, string>,
  tokens: ReadonlyMap<StackCaller, string>,
  credentials: grpc.ChannelCredentials,
): Promise<string> {
  const client = new scheduling.SchedulingServiceClient(
    addresses.get(SERVICE_NAMES.scheduling)!,
    credentials,
  );
  try {
    const clinicianId = JSON.parse(
      Buffer.from(tokens.get('clinician')!.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as { sub: string };
    const desk = { client, metadata: () => clientCallMetadata({ token: tokens.get('front_desk')! }) };
    const patient = await createPatient(desk, {
      givenName: 'Pat',
      familyName: 'Stack',
      dateOfBirth: '1980-01-02',
    });
    const start = new Date(Date.now() + 5 * 60_000);
    const clinician = `users/${clinicianId.sub}`;
    const booked = await bookVisit(desk, { patient, clinician, start, reason: 'check-up' });
    const redeemed = await redeemLink(client, await issueLink(desk, booked.name));
    return redeemed.accessToken;
  } finally {
    client.close();
  }
}
