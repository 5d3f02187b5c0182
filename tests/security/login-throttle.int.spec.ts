/**
 * Login throttling as an attacker meets it, over the real services (identity, scheduling, session, audit as built
 * child processes on a real nats-server and Janus; the gateway in this process with real gRPC clients): browsers
 * reach the gateway through an ingress (X-Forwarded-For), the gateway passes the client address to identity, and
 * identity believes it only from the gateway (the forwarder secret). Identity's throttle settings are its
 * production defaults here (the other stacks switch them off).
 *
 *  - a flood of wrong logins for unknown names from one address gets 429 with Retry-After there, and does not
 *    block another user's correct login from another address (before: identity throttled the gateway's own
 *    address, so ~20 wrong logins from anywhere answered 503 to every user);
 *  - per-account lockout still works, and failures for one name from many addresses back that name off;
 *  - X-Forwarded-For from a peer that is not a trusted proxy is ignored;
 *  - a client address in gRPC metadata from a caller without the forwarder secret is ignored; identity answers
 *    RESOURCE_EXHAUSTED with a google.rpc.RetryInfo.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { JetStreamEventStore } from '@haven/eventstore';
import { identity } from '@haven/proto';
import {
  callUnary,
  CLIENT_ADDRESS_METADATA,
  clientCallMetadata,
  FORWARDER_METADATA,
  parseStatusDetails,
} from '@haven/service';
import { CookieJar } from '../../services/gateway/test/gateway';
import { STACK_PASSWORD, startStack, type TestStack } from '../../services/gateway/test/stack';

jest.setTimeout(180_000);

const SECRET = randomBytes(32).toString('base64url');
let stack: TestStack;

beforeAll(async () => {
  stack = await startStack({
    // Identity's production defaults for the throttles (burst 20, 20 a minute, back-off after 20 failures per
    // address and 10 per account) and the lockout (5 failures).
    identityEnv: {
      HAVEN_LOGIN_IP_BURST: '20',
      HAVEN_LOGIN_IP_PER_MINUTE: '20',
      HAVEN_FORWARDER_SECRET: SECRET,
    },
    gateway: { trustedProxies: ['loopback'], forwarderSecret: SECRET },
  });
  for (const name of ['b', 'c', 'd', 'e', 'f']) await stack.createUser(`${name}@throttle.test`, 'auditor');
});
afterAll(async () => {
  await stack?.stop();
});

async function login(
  base: string,
  username: string,
  password: string,
  from: string,
): Promise<{ status: number; retryAfter: string | null }> {
  const jar = new CookieJar();
  await jar.fetch(`${base}/`);
  const res = await jar.post(
    `${base}/api/auth/login`,
    { username, password },
    { headers: { 'x-forwarded-for': from } },
  );
  await res.body?.cancel();
  return { status: res.status, retryAfter: res.headers.get('retry-after') };
}

const unknownName = () => `nobody-${randomBytes(4).toString('hex')}@throttle.test`;

describe('login throttling behind the gateway', () => {
  it('a flood of wrong logins from one address gets 429 there and does not block another user elsewhere', async () => {
    const flood: Array<{ status: number; retryAfter: string | null }> = [];
    for (let i = 0; i < 30; i++)
      flood.push(await login(stack.url, unknownName(), 'Wrong-Pass-1234!', '203.0.113.7'));
    expect(flood.slice(0, 10).map((r) => r.status)).toEqual(Array(10).fill(401));
    const throttled = flood.filter((r) => r.status === 429);
    expect(throttled.length).toBeGreaterThan(0);
    expect(Number(throttled[0]?.retryAfter)).toBeGreaterThan(0);
    expect(flood.every((r) => r.status === 401 || r.status === 429)).toBe(true);
    // Another user, another address: signed in at once.
    expect((await login(stack.url, 'b@throttle.test', STACK_PASSWORD, '198.51.100.9')).status).toBe(200);
    // The flooding address stays throttled, whoever it tries.
    expect((await login(stack.url, 'b@throttle.test', STACK_PASSWORD, '203.0.113.7')).status).toBe(429);
  });

  it('still locks an account after five wrong passwords, from whatever addresses', async () => {
    for (let i = 1; i <= 5; i++) {
      expect(
        (await login(stack.url, 'c@throttle.test', 'Wrong-Pass-1234!', `198.51.100.${20 + i}`)).status,
      ).toBe(401);
    }
    expect((await login(stack.url, 'c@throttle.test', STACK_PASSWORD, '198.51.100.40')).status).toBe(401);
    const store = await JetStreamEventStore.connect({ ...stack.nats.operator, name: 'throttle-test' });
    try {
      const claim = createHash('sha256').update('c@throttle.test').digest('hex');
      const directory = await store.read(`identity.username-${claim}`);
      const userId = String(directory[0]?.data['userId']);
      const types = (await store.read(`identity.user-${userId}`)).map((e) => e.type);
      expect(types).toContain('haven.identity.v1.AccountLocked');
    } finally {
      await store.close();
    }
  });

  it('backs one name off after ten failures from ten addresses; another user from those addresses is not slowed', async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 12; i++)
      statuses.push((await login(stack.url, 'd@throttle.test', 'Wrong-Pass-1234!', `192.0.2.${i}`)).status);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual([429, 429]);
    expect((await login(stack.url, 'd@throttle.test', 'Wrong-Pass-1234!', '192.0.2.200')).status).toBe(429);
    for (let i = 1; i <= 3; i++)
      expect((await login(stack.url, 'e@throttle.test', STACK_PASSWORD, `192.0.2.${i}`)).status).toBe(200);
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    // A second gateway that trusts only 10.255.255.1: the test's requests come from 127.0.0.1, so every forged
    // X-Forwarded-For is ignored and all of them count against 127.0.0.1.
    const untrusted = await stack.startGateway({ trustedProxies: ['10.255.255.1'], forwarderSecret: SECRET });
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++)
      statuses.push((await login(untrusted, unknownName(), 'Wrong-Pass-1234!', `198.18.0.${i + 1}`)).status);
    expect(statuses).toContain(429);
    expect((await login(untrusted, 'f@throttle.test', STACK_PASSWORD, '198.18.1.1')).status).toBe(429);
    // Through the gateway that trusts its proxy, the same user from a real address is fine.
    expect((await login(stack.url, 'f@throttle.test', STACK_PASSWORD, '198.18.2.1')).status).toBe(200);
  });
});

describe('login throttling at identity (gRPC)', () => {
  it('believes a forwarded client address only with the forwarder secret, and answers RESOURCE_EXHAUSTED with RetryInfo', async () => {
    const client = new identity.IdentityServiceClient(stack.identity.address, stack.identity.credentials);
    try {
      const attempt = (username: string, password: string, metadata: grpc.Metadata) =>
        callUnary(client, 'login', identity.LoginRequest.fromPartial({ username, password }), metadata).then(
          () => null,
          (e: grpc.ServiceError) => e,
        );
      const forged = (address: string, secret?: string) => {
        const metadata = clientCallMetadata({});
        metadata.set(CLIENT_ADDRESS_METADATA, address);
        if (secret !== undefined) metadata.set(FORWARDER_METADATA, secret);
        return metadata;
      };
      // Wrong logins, each claiming a new client address with a wrong or no forwarder secret: identity counts
      // them all against this process's own address (127.0.0.1), so they end up throttled.
      let refused: grpc.ServiceError | undefined;
      for (let i = 0; i < 40 && refused === undefined; i++) {
        const outcome = await attempt(
          unknownName(),
          'Wrong-Pass-1234!',
          forged(`192.0.2.${100 + i}`, i % 2 === 0 ? 'not-the-secret' : undefined),
        );
        if (outcome?.code === grpc.status.RESOURCE_EXHAUSTED) refused = outcome;
      }
      expect(refused && grpc.status[refused.code]).toBe('RESOURCE_EXHAUSTED');
      expect(parseStatusDetails(refused!).retryDelayMs).toBeGreaterThan(0);
      const stillRefused = await attempt('f@throttle.test', STACK_PASSWORD, forged('192.0.2.251'));
      expect(stillRefused && grpc.status[stillRefused.code]).toBe('RESOURCE_EXHAUSTED');
      // The gateway (it has the secret) speaking for a client at another address is not throttled.
      expect(await attempt('f@throttle.test', STACK_PASSWORD, forged('192.0.2.252', SECRET))).toBeNull();
    } finally {
      client.close();
    }
  });
});
