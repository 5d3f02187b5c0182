/**
 * connectNats's first connection, over a real nats-server: a service that meets NATS refusing or restarting at
 * start tries again instead of exiting (issue 11: "a service that meets a NATS timeout at start exits"), while
 * a wrong credential still fails at once.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnavailableError } from '@haven/errors';
import {
  ensureDevPki,
  eventually,
  type FaultProxy,
  type NatsServerHandle,
  startFaultProxy,
  startNatsServer,
} from '@haven/testing';
import { closeNatsConnection, connectNats, natsConnectionOptions } from './nats-connection';

jest.setTimeout(60_000);

let nats: NatsServerHandle;
let proxy: FaultProxy;

beforeAll(async () => {
  nats = await startNatsServer();
  proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: nats.port } });
});

afterAll(async () => {
  await proxy?.close();
  await nats?.stop();
});

afterEach(() => proxy.heal());

const throughProxy = () => ({
  ...nats.client('scheduling'),
  servers: `nats://127.0.0.1:${proxy.port}`,
  name: 'test',
});

it('tries once and says NATS is unreachable when told not to retry', async () => {
  proxy.set({ refuse: true });
  await expect(connectNats({ ...throughProxy(), retryForMs: 0 }, 'test')).rejects.toThrow(UnavailableError);
});

it('keeps trying while NATS refuses connections, and connects once it answers', async () => {
  proxy.set({ refuse: true });
  const lifted = setTimeout(() => proxy.heal(), 1_500);
  try {
    const nc = await connectNats({ ...throughProxy(), retryForMs: 20_000 }, 'test');
    expect(proxy.stats.refused).toBeGreaterThan(1);
    await closeNatsConnection(nc);
  } finally {
    clearTimeout(lifted);
  }
});

it('fails on a wrong password after one attempt, retry or not', async () => {
  const before = proxy.stats.connections;
  await expect(connectNats({ ...throughProxy(), pass: 'wrong', retryForMs: 20_000 }, 'test')).rejects.toThrow(
    /not reachable: .*authorization/i,
  );
  expect(proxy.stats.connections - before).toBe(1);
});

it('survives connections reset while it starts TLS, and connects once they are not', async () => {
  // nats.js reads the CA and certificate files between the server's greeting and the TLS handshake; a reset in
  // that gap used to reach a socket without an error listener and end the process (a service crash under a
  // flapping network, seen in the fault suite).
  proxy.set({ resetAfterGreeting: true });
  const before = proxy.stats.resets;
  await expect(connectNats({ ...throughProxy(), retryForMs: 1_500 }, 'test')).rejects.toThrow(
    UnavailableError,
  );
  expect(proxy.stats.resets - before).toBeGreaterThan(1);
  proxy.heal();
  const nc = await connectNats({ ...throughProxy(), retryForMs: 5_000 }, 'test');
  await closeNatsConnection(nc);
});

it('trusts only the CA it is given, read again at each connection (a replaced CA file counts next time)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nats-ca-'));
  try {
    const other = await ensureDevPki({ dir: join(dir, 'other'), workloads: [] });
    const caFile = join(dir, 'ca.pem');
    await copyFile(other.caFile, caFile);
    await expect(
      connectNats({ ...throughProxy(), tlsCaFile: caFile, retryForMs: 0 }, 'test'),
    ).rejects.toThrow(UnavailableError);
    await copyFile(nats.client('scheduling').tlsCaFile!, caFile);
    const nc = await connectNats({ ...throughProxy(), tlsCaFile: caFile, retryForMs: 0 }, 'test');
    await closeNatsConnection(nc);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('drops and replaces a connection whose reader stopped on bytes it could not parse', async () => {
  const nc = await connectNats({ ...throughProxy(), pingIntervalMs: 300 }, 'test');
  try {
    await nc.request('$JS.API.INFO', undefined, { timeout: 2_000 });
    // nats.js stops reading on a parse error and keeps the socket open: without PINGs it never notices.
    proxy.inject('down', 'MSG garbage that is not the protocol\r\n\x00\x01\r\n');
    await eventually(
      'a request answered after the damage',
      async () => {
        try {
          await nc.request('$JS.API.INFO', undefined, { timeout: 500 });
          return true;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 10_000 },
    );
    expect(nc.isClosed()).toBe(false);
  } finally {
    await closeNatsConnection(nc);
  }
});

it('pings often enough to notice a dead reader within about 20 s by default', () => {
  const options = natsConnectionOptions({ servers: 'nats://127.0.0.1:4222', name: 'x' });
  expect((options.pingInterval ?? 120_000) * ((options.maxPingOut ?? 2) + 1)).toBeLessThanOrEqual(20_000);
});
