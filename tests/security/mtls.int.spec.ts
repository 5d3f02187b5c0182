/**
 * Mutual TLS between Haven's workloads, tested from outside with plain grpc-js clients and raw TLS sockets:
 * a client without a certificate, with an expired one, from another CA or of another workload is refused;
 * certificate files replaced on disk are used by the next connection without a restart. The harness part runs
 * against an in-process server with a real CA (openssl); the wiring part against a real service process of a
 * launched stack, whose refusal lands in the event store like every refusal.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { audit, scheduling } from '@haven/proto';
import {
  accessRefusalStream,
  callUnary,
  createJwtVerifier,
  createLogger,
  mutualTlsFromFiles,
  parseStatusDetails,
  startGrpcService,
  type AccessRefusal,
  type RunningGrpcService,
} from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';
import { JetStreamEventStore } from '@haven/eventstore';
import {
  ensureDevPki,
  eventually,
  launchStack,
  serveJwks,
  statusOf,
  type DevPki,
  type JwksServer,
  type LaunchedStack,
} from '@haven/testing';

const issuer = createTestIssuer();
const logger = createLogger({ service: 'mtls-test', level: 'silent' });
const REFRESH_MS = 200;

/** Calls GetAppointment with a staff token; resolves with the status code (OK = 0). */
async function getAppointment(address: string, credentials: grpc.ChannelCredentials): Promise<grpc.status> {
  const client = new scheduling.SchedulingServiceClient(address, credentials);
  try {
    return await statusOf(
      callUnary(
        client,
        'getAppointment',
        scheduling.GetAppointmentRequest.fromPartial({ name: 'appointments/apt-1' }),
        await issuer.metadata({ sub: 'u-desk', role: 'front_desk' }),
        { deadlineMs: 5_000 },
      ),
    );
  } finally {
    client.close();
  }
}

/** The SHA-256 fingerprint of the certificate a TLS server presents to a new connection. */
/** A TLS connection to 127.0.0.1:`port` as `pki`'s workload `client` (its certificate), offering HTTP/2. */
function connectAs(port: number, pki: DevPki, client: string): TLSSocket {
  const files = pki.files(client);
  return tlsConnect({
    host: '127.0.0.1',
    port,
    ca: readFileSync(pki.caFile),
    cert: readFileSync(files.certFile),
    key: readFileSync(files.keyFile),
    ALPNProtocols: ['h2'],
    servername: 'localhost',
  });
}

function serverFingerprint(port: number, pki: DevPki, client: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectAs(port, pki, client);
    socket.once('secureConnect', () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe('gRPC mutual TLS in the harness', () => {
  let dir: string;
  let pki: DevPki;
  let server: RunningGrpcService;
  let address: string;
  const refusals: AccessRefusal[] = [];
  const handled: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'haven-mtls-'));
    pki = await ensureDevPki({ dir: join(dir, 'pki') });
    const own = pki.files('scheduling');
    server = await startGrpcService({
      name: 'scheduling',
      port: 0,
      host: '127.0.0.1',
      services: [
        {
          definition: scheduling.SchedulingServiceService,
          handlers: {
            getAppointment: async () => {
              handled.push('get');
              return scheduling.GetAppointmentResponse.fromPartial({});
            },
          },
        },
      ],
      auth: {
        verifier: createJwtVerifier({ jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience }),
      },
      mtls: mutualTlsFromFiles({
        caFile: pki.caFile,
        ...own,
        refreshIntervalMs: REFRESH_MS,
      }),
      onAccessRefused: (r) => refusals.push(r),
      logger,
      shutdownGraceMs: 500,
    });
    address = `127.0.0.1:${server.port}`;
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    handled.length = 0;
    refusals.length = 0;
  });

  it('serves the gateway and a hospital system presenting their certificates (TLS 1.3)', async () => {
    expect(await getAppointment(address, pki.grpcCredentials('gateway'))).toBe(grpc.status.OK);
    expect(await getAppointment(address, pki.grpcCredentials('integration'))).toBe(grpc.status.OK);
    expect(handled).toEqual(['get', 'get']);
    const protocol = await new Promise<string | null>((resolve, reject) => {
      const socket = connectAs(server.port, pki, 'gateway');
      socket.once('secureConnect', () => {
        resolve(socket.getProtocol());
        socket.destroy();
      });
      socket.once('error', reject);
    });
    expect(protocol).toBe('TLSv1.3');
  });

  it('refuses a client without a certificate, in plaintext, with an expired one or from another CA', async () => {
    const ca = readFileSync(pki.caFile);
    expect(await getAppointment(address, grpc.credentials.createSsl(ca))).toBe(grpc.status.UNAVAILABLE);
    expect(await getAppointment(address, grpc.credentials.createInsecure())).toBe(grpc.status.UNAVAILABLE);
    const expired = await pki.issue('gateway', { dir: join(dir, 'expired'), expired: true });
    expect(
      await getAppointment(
        address,
        grpc.credentials.createSsl(ca, readFileSync(expired.keyFile), readFileSync(expired.certFile)),
      ),
    ).toBe(grpc.status.UNAVAILABLE);
    const other = await ensureDevPki({ dir: join(dir, 'other-ca'), workloads: ['gateway'] });
    const foreign = other.files('gateway');
    expect(
      await getAppointment(
        address,
        grpc.credentials.createSsl(ca, readFileSync(foreign.keyFile), readFileSync(foreign.certFile)),
      ),
    ).toBe(grpc.status.UNAVAILABLE);
    expect(handled).toEqual([]);
  });

  it('refuses another service’s certificate with PERMISSION_DENIED PEER_DENIED, reported as a refusal', async () => {
    const client = new scheduling.SchedulingServiceClient(address, pki.grpcCredentials('recording'));
    try {
      const error = await callUnary(
        client,
        'getAppointment',
        scheduling.GetAppointmentRequest.fromPartial({ name: 'appointments/apt-1' }),
        await issuer.metadata({ sub: 'u-desk', role: 'front_desk' }),
      ).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      expect(error?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(parseStatusDetails(error!).reason).toBe('PEER_DENIED');
    } finally {
      client.close();
    }
    expect(handled).toEqual([]);
    expect(refusals).toEqual([
      expect.objectContaining({
        method: '/haven.scheduling.v1.SchedulingService/GetAppointment',
        code: 'PEER_DENIED',
        principal: { kind: 'service', id: 'recording' },
      }),
    ]);
  });

  it('uses rotated files for new connections without a restart: the server’s and a client’s', async () => {
    const before = await serverFingerprint(server.port, pki, 'gateway');
    // The server's own certificate is replaced on disk (a cert-manager renewal).
    const renewed = await pki.issue('scheduling', { dir: join(dir, 'renewed') });
    await copyFile(renewed.keyFile, pki.files('scheduling').keyFile);
    await copyFile(renewed.certFile, pki.files('scheduling').certFile);
    await eventually(
      'the server to present its renewed certificate',
      async () => (await serverFingerprint(server.port, pki, 'gateway')) !== before,
    );
    expect(await getAppointment(address, pki.grpcCredentials('gateway'))).toBe(grpc.status.OK);

    // A client reading its files through mutualTlsFromFiles: its certificate becomes another workload's.
    const gatewayDir = join(dir, 'gateway-client');
    const gateway = await pki.issue('gateway', { dir: gatewayDir });
    const tls = mutualTlsFromFiles({ caFile: pki.caFile, ...gateway, refreshIntervalMs: REFRESH_MS });
    expect(await getAppointment(address, tls.channelCredentials({ server: 'scheduling' }))).toBe(
      grpc.status.OK,
    );
    await pki.issue('recording', { dir: gatewayDir }).then(async (r) => {
      await copyFile(r.keyFile, gateway.keyFile);
      await copyFile(r.certFile, gateway.certFile);
    });
    await eventually(
      'the client to present its replaced certificate',
      async () =>
        (await getAppointment(address, tls.channelCredentials({ server: 'scheduling' }))) ===
        grpc.status.PERMISSION_DENIED,
    );
  });

  it('keeps its pair while a rotation is half-written: a new certificate beside the old key', async () => {
    const before = await serverFingerprint(server.port, pki, 'gateway');
    const renewed = await pki.issue('scheduling', { dir: join(dir, 'half-written') });
    await copyFile(renewed.certFile, pki.files('scheduling').certFile);
    await new Promise((resolve) => setTimeout(resolve, REFRESH_MS * 5));
    expect(await serverFingerprint(server.port, pki, 'gateway')).toBe(before);
    expect(await getAppointment(address, pki.grpcCredentials('gateway'))).toBe(grpc.status.OK);
    await copyFile(renewed.keyFile, pki.files('scheduling').keyFile);
    await eventually(
      'the server to present the completed renewal',
      async () => (await serverFingerprint(server.port, pki, 'gateway')) !== before,
    );
  });

  it('refuses, as a client, a server whose certificate names another workload', async () => {
    const gateway = pki.files('gateway');
    const tls = mutualTlsFromFiles({ caFile: pki.caFile, ...gateway });
    expect(await getAppointment(address, tls.channelCredentials({ server: 'identity' }))).toBe(
      grpc.status.UNAVAILABLE,
    );
    expect(handled).toEqual([]);
  });
});

describe('gRPC mutual TLS of a service process', () => {
  let jwks: JwksServer;
  let stack: LaunchedStack;

  beforeAll(async () => {
    jwks = await serveJwks(issuer.jwks);
    stack = await launchStack({ services: ['audit'], jwksUrl: jwks.url, janus: false });
  });

  afterAll(async () => {
    await stack?.stop();
    await jwks?.close();
  });

  /** ListAuditEvents as an auditor through `credentials`; resolves with the status code. */
  const listEvents = async (credentials: grpc.ChannelCredentials): Promise<grpc.status> => {
    const client = new audit.AuditServiceClient(stack.address('audit'), credentials);
    try {
      return await statusOf(
        callUnary(
          client,
          'listAuditEvents',
          audit.ListAuditEventsRequest.fromPartial({}),
          await issuer.metadata({ sub: 'u-auditor', role: 'auditor' }),
          { deadlineMs: 5_000 },
        ),
      );
    } finally {
      client.close();
    }
  };

  it('serves a caller with the gateway’s certificate and refuses plaintext and another service’s certificate', async () => {
    expect(await listEvents(stack.pki.grpcCredentials('gateway'))).toBe(grpc.status.OK);
    expect(await listEvents(grpc.credentials.createInsecure())).toBe(grpc.status.UNAVAILABLE);
    const started = new Date();
    expect(await listEvents(stack.pki.grpcCredentials('scheduling'))).toBe(grpc.status.PERMISSION_DENIED);
    // The refusal is an AccessRefused event in the audit service's own refusal stream.
    const store = await JetStreamEventStore.connect({ ...stack.nats.operator, name: 'mtls-test' });
    try {
      const refusal = await eventually('the AccessRefused event', async () =>
        (await store.read(accessRefusalStream('audit', started))).find(
          (e) => (e.data as { code?: string }).code === 'PEER_DENIED',
        ),
      );
      expect(refusal.data).toMatchObject({ principalKind: 'service', principalId: 'scheduling' });
    } finally {
      await store.close();
    }
  });
});
