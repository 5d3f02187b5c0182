/**
 * What a suite that runs a service in process talks to it with: a plain-text gRPC client on 127.0.0.1 and the
 * suite's own view of the event store.
 */
import * as grpc from '@grpc/grpc-js';
import type { NatsConnection } from 'nats';
import { JetStreamEventStore } from '@haven/eventstore';
import type { NatsServerHandle } from './nats-server';

/** A plain-text gRPC client (`Client`, a generated one or `grpc.Client`) of a service on 127.0.0.1:`port`. */
export function localClient<C>(
  Client: new (address: string, credentials: grpc.ChannelCredentials) => C,
  port: number | string,
): C {
  return new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

/**
 * A suite's own view of the event store: a second connection to `nats` as the operator and a JetStream store
 * over it (to read what the service wrote, or play another context). The caller closes the connection.
 */
export async function suiteStore(
  nats: NatsServerHandle,
): Promise<{ connection: NatsConnection; store: JetStreamEventStore }> {
  const connection = await nats.connect();
  return { connection, store: await JetStreamEventStore.create(connection) };
}
