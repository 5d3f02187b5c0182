/**
 * Test support: the recording service in process over a real nats-server, with a test JWKS, a gRPC client and
 * a second connection to the event store — what the recording service's integration suites share.
 */
import type * as grpc from '@grpc/grpc-js';
import type { NatsConnection } from 'nats';
import type { JetStreamEventStore } from '@haven/eventstore';
import { recording } from '@haven/proto';
import { createLogger, type RunningGrpcService } from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';
import {
  localClient,
  serveJwks,
  startNatsServer,
  type JwksServer,
  type NatsServerHandle,
  suiteStore,
} from '@haven/testing';
import { startRecording } from '../src/server';
import { testRecordingConfig } from '../src/testing';

/** A running recording service and what a suite talks to it with. */
export interface RecordingSuite {
  readonly nats: NatsServerHandle;
  readonly service: RunningGrpcService;
  readonly client: recording.RecordingServiceClient;
  /** The suite's own view of the event store (to play the session's part and read what the service wrote). */
  readonly store: JetStreamEventStore;
  readonly connection: NatsConnection;
  /** Call metadata carrying a token for `sub` with `role`. */
  as(sub: string, role: string): Promise<grpc.Metadata>;
  /** Call metadata with a patient token for `sub` (patient id) of appointment `appointment`. */
  asPatient(sub: string, appointment: string): Promise<grpc.Metadata>;
  stop(): Promise<void>;
}

/** Starts nats-server, a JWKS and the recording service with `extraEnv` (e.g. HAVEN_DATA_DIR). */
export async function startRecordingSuite(
  extraEnv: Readonly<Record<string, string>> = {},
): Promise<RecordingSuite> {
  const issuer = createTestIssuer();
  const nats = await startNatsServer();
  const jwks: JwksServer = await serveJwks(issuer.jwks);
  const config = testRecordingConfig(nats.env('recording'), { jwksUrl: jwks.url }, extraEnv);
  const service = await startRecording(config, createLogger({ service: 'recording', level: 'warn' }), {
    host: '127.0.0.1',
  });
  const client = localClient(recording.RecordingServiceClient, service.port);
  const { connection, store } = await suiteStore(nats);
  return {
    nats,
    service,
    client,
    store,
    connection,
    as: (sub, role) => issuer.metadata({ sub, role }),
    asPatient: (sub, appointment) =>
      issuer.metadata({ sub, kind: 'patient', visit: `appointments/${appointment}` }),
    async stop() {
      client.close();
      await service.stop();
      await connection.close();
      await nats.stop();
      await jwks.close();
    },
  };
}
