/**
 * The walking skeleton's stack, shared by the specs that book over it: a JWKS server for the test's token issuer,
 * the scheduling, session and audit services as built child processes (@haven/testing's `launchStack`, Janus
 * without its event handler), a scheduling client and a connection to the event store.
 *
 *   const skeleton = await startSkeletonStack(issuer.jwks, 'my-test');
 *   ... skeleton.scheduling / skeleton.store / skeleton.stack ...
 *   await skeleton.stop();
 */
import { JetStreamEventStore } from '@haven/eventstore';
import { scheduling } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import { type JwksServer, type LaunchedStack, launchStack, serveJwks } from '@haven/testing';

/** A running skeleton stack. */
export interface SkeletonStack {
  readonly stack: LaunchedStack;
  readonly jwksServer: JwksServer;
  /** A client of the scheduling service (closed by `stop`). */
  readonly scheduling: scheduling.SchedulingServiceClient;
  /** A connection to the stack's event store (closed by `stop`). */
  readonly store: JetStreamEventStore;
  /** Registers patient `patientId` (born 1980-01-01) as the caller holding `token` (the front desk's). */
  createPatient(
    token: string,
    patientId: string,
    name: { givenName: string; familyName: string },
  ): Promise<void>;
  /** Closes the client and the store connection, stops the stack, then the JWKS server. */
  stop(): Promise<void>;
}

/**
 * Serves `jwks`, launches scheduling, session and audit against it and connects to the store as `storeName`.
 * Throws when a service does not start (after stopping what did).
 */
export async function startSkeletonStack(jwks: object, storeName: string): Promise<SkeletonStack> {
  const jwksServer = await serveJwks(jwks);
  let stack: LaunchedStack | undefined;
  try {
    stack = await launchStack({
      services: ['scheduling', 'session', 'audit'],
      jwksUrl: jwksServer.url,
      janus: { eventHandler: false },
    });
    const launched = stack;
    const client = launched.client(scheduling.SchedulingServiceClient, 'scheduling');
    const store = await JetStreamEventStore.connect({ ...launched.nats.operator, name: storeName });
    return {
      stack: launched,
      jwksServer,
      scheduling: client,
      store,
      async createPatient(token, patientId, name) {
        await callUnary(
          client,
          'createPatient',
          scheduling.CreatePatientRequest.fromPartial({
            patientId,
            patient: { ...name, dateOfBirth: '1980-01-01' },
          }),
          clientCallMetadata({ token }),
        );
      },
      async stop() {
        client.close();
        await store.close();
        await launched.stop();
        await jwksServer.close();
      },
    };
  } catch (error) {
    await stack?.stop();
    await jwksServer.close();
    throw error;
  }
}
