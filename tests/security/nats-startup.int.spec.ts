/**
 * A service meets NATS down (or not provisioned) at start: it must wait — health NOT_SERVING on its gRPC port,
 * retrying with a bounded back-off and saying why in its log — and serve once NATS is there, instead of exiting
 * (which left the dev stack without the service and an orchestrator in a crash loop). Real nats-server, the
 * built audit service as a child process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { provisionHavenStreams } from '@haven/eventstore';
import { audit } from '@haven/proto';
import {
  freePort,
  healthStatus,
  localClient,
  type NatsServerHandle,
  type ServiceProcess,
  startNatsServer,
  startServiceProcess,
} from '@haven/testing';

jest.setTimeout(120_000);

const NOT_SERVING = 2;
const SERVING = 1;

let dir: string;
let nats: NatsServerHandle | undefined;
let service: ServiceProcess | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'haven-nats-startup-'));
});
afterEach(async () => {
  await service?.stop();
  await nats?.stop();
  service = undefined;
  nats = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** Starts the audit service; resolves when SERVING (rejects if it exits first). */
function startAudit(port: number, server: NatsServerHandle): Promise<ServiceProcess> {
  return startServiceProcess(
    'audit',
    port,
    {
      ...server.env('audit'),
      HAVEN_JWKS_URL: 'http://127.0.0.1:9/.well-known/jwks.json',
      HAVEN_DATA_DIR: join(dir, 'audit'),
    },
    90_000,
  );
}

/** Polls health until it has answered NOT_SERVING `times` times in a row (bounded: 20 s). */
async function notServingFor(port: number, times: number): Promise<number> {
  let seen = 0;
  for (let i = 0; i < 100 && seen < times; i++) {
    seen = (await healthStatus(`127.0.0.1:${port}`, 500)) === NOT_SERVING ? seen + 1 : 0;
    await new Promise((r) => setTimeout(r, 200));
  }
  return seen;
}

describe('a service started while nats-server is down', () => {
  it('answers NOT_SERVING and retries, then serves once NATS comes up', async () => {
    nats = await startNatsServer();
    await nats.down();
    const port = await freePort();
    let exited: unknown;
    const starting = startAudit(port, nats).catch((error: unknown) => {
      exited = error;
      throw error;
    });
    starting.catch(() => undefined);
    expect(await notServingFor(port, 5)).toBe(5);
    expect(exited).toBeUndefined();
    // A client calling meanwhile is told to retry (UNAVAILABLE), not that the method does not exist.
    const client = localClient(audit.AuditServiceClient, port);
    const code = await new Promise<number | undefined>((resolve) => {
      client.getTreeHead(audit.GetTreeHeadRequest.fromPartial({}), (error) => resolve(error?.code));
    });
    client.close();
    expect(code).toBe(grpc.status.UNAVAILABLE);
    await nats.up();
    service = await starting;
    expect(await healthStatus(`127.0.0.1:${port}`)).toBe(SERVING);
    expect(service.output()).toMatch(/"msg":"waiting for NATS"/);
    expect(service.output()).toMatch(/"retryInMs":\d+/);
  });

  it('waits for the operator when the streams are missing, naming the stream, then serves', async () => {
    nats = await startNatsServer({ provision: false });
    const port = await freePort();
    const starting = startAudit(port, nats);
    starting.catch(() => undefined);
    expect(await notServingFor(port, 3)).toBe(3);
    const nc = await nats.connect();
    try {
      await provisionHavenStreams(nc);
    } finally {
      await nc.drain();
    }
    service = await starting;
    expect(await healthStatus(`127.0.0.1:${port}`)).toBe(SERVING);
    expect(service.output()).toMatch(/waiting for the operator to provision the NATS streams/);
    expect(service.output()).toMatch(/HAVEN_ES: the event store does not exist/);
  });
});
