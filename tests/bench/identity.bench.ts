/**
 * Identity benchmarks.
 *
 * 1. Login: `Login` over real gRPC against the identity service on a real nats-server (JetStream event store),
 *    argon2id with the production (OWASP) parameters: password verification, LoginSucceeded and SessionStarted
 *    appended, EdDSA access token signed. 30 measured logins after 3 warm-ups; p50/p95. The argon2id verify
 *    alone is timed too, so the rest (event store + signing) is visible.
 * 2. Token verification overhead inside the gRPC harness: the same `startGrpcService` echo with the method
 *    authenticated (bearer token, cached JWKS, verified-token cache, revocation check against 10 000 revoked
 *    entries) versus listed in `publicMethods` (no token verification), alternating call by call, same process.
 *    Target: p50 ratio <= 1.1. Plus the cost of `createJwtVerifier().verify` on its cached path versus a bare
 *    async call, and the uncached EdDSA verification.
 *
 * `run()` returns JSON. Stand-alone (after `npx tsc -b tsconfig.build.json`):
 * `TS_NODE_PROJECT=tests/bench/tsconfig.json node -r ts-node/register/transpile-only tests/bench/identity.bench.ts [logins] [callsPerSide]`
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { loadIdentityConfig, startIdentityService } from '@haven/identity';
import { identity } from '@haven/proto';
import {
  callUnary,
  clientCallMetadata,
  createJwtVerifier,
  createLogger,
  RevocationSet,
} from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';
import { createPasswordHasher } from '../../services/identity/src/credential/password/hasher';
import { startNatsServer } from '@haven/testing';
import { interleaved, summary } from './stats';
import { ECHO_METHOD, echoOnce, loadEchoService, startHavenEcho, type EchoClient } from './echo';
import { runWhenMain } from './main';

/** Latency summary, milliseconds. */
export interface Stats {
  readonly n: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly mean: number;
}

const stats = (samples: readonly number[]): Stats => ({
  n: samples.length,
  ...summary(samples, [50, 95, 99]),
});

const silent = () =>
  createLogger({
    service: 'bench',
    level: 'info',
    destination: new Writable({ write: (_c, _e, cb) => cb() }),
  });

/** Login p50/p95 against a real nats-server with production argon2id parameters. */
async function loginBench(logins: number): Promise<Record<string, unknown>> {
  const nats = await startNatsServer();
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-identity-bench-'));
  let service: Awaited<ReturnType<typeof startIdentityService>> | undefined;
  let client: identity.IdentityServiceClient | undefined;
  try {
    const config = loadIdentityConfig({
      ...nats.env('identity'),
      HAVEN_GRPC_PORT: '0',
      HAVEN_HTTP_PORT: '0',
      HAVEN_DATA_DIR: dataDir,
      HAVEN_LOGIN_IP_BURST: '10000',
      HAVEN_LOGIN_IP_PER_MINUTE: '10000',
    });
    service = await startIdentityService(config, { logger: silent(), host: '127.0.0.1' });
    const c = new identity.IdentityServiceClient(
      `127.0.0.1:${service.grpcPort}`,
      grpc.credentials.createInsecure(),
    );
    client = c;
    const password = 'Quiet-Harbor-2026!';
    const ctx = { actor: { kind: 'service' as const, id: 'bench' }, correlationId: 'bench' };
    const invited = await service.runtime.app.users.inviteUser(ctx, {
      username: 'bench@demo.clinic',
      email: 'bench@demo.clinic',
      displayName: 'Bench User',
      role: 'auditor', // no TOTP: measures password + session + token, what every login pays
    });
    await service.runtime.app.users.activateUser(ctx, { invitationToken: invited.invitationToken, password });
    const login = () =>
      callUnary(
        c,
        'login',
        { username: 'bench@demo.clinic', password, totpCode: '' },
        clientCallMetadata({}),
        {
          deadlineMs: 10_000,
        },
      );
    for (let i = 0; i < 3; i++) await login();
    const samples: number[] = [];
    for (let i = 0; i < logins; i++) {
      const t = performance.now();
      const res = await login();
      samples.push(performance.now() - t);
      if (!res.tokens?.accessToken) throw new Error('login returned no token');
    }
    const hasher = createPasswordHasher({
      memoryCost: config.HAVEN_ARGON2_MEMORY_KIB,
      timeCost: config.HAVEN_ARGON2_TIME_COST,
      parallelism: config.HAVEN_ARGON2_PARALLELISM,
    });
    const phc = await hasher.hash(password);
    const argon: number[] = [];
    for (let i = 0; i < logins; i++) {
      const t = performance.now();
      if (!(await hasher.verify(phc, password))) throw new Error('argon2 verify failed');
      argon.push(performance.now() - t);
    }
    return {
      unit: 'ms',
      login: stats(samples),
      argon2idVerifyOnly: stats(argon),
      argon2: {
        algorithm: 'argon2id',
        memoryKiB: config.HAVEN_ARGON2_MEMORY_KIB,
        timeCost: config.HAVEN_ARGON2_TIME_COST,
        parallelism: config.HAVEN_ARGON2_PARALLELISM,
        phcParams: /\$v=\d+\$[^$]+/.exec(phc)?.[0] ?? '',
      },
      eventStore: 'jetstream (real nats-server)',
    };
  } finally {
    client?.close();
    await service?.stop();
    await nats.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Harness with token verification vs the same harness with the method public. */
async function verificationBench(callsPerSide: number): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'haven-identity-bench-grpc-'));
  const clients: grpc.Client[] = [];
  const stops: Array<() => Promise<void>> = [];
  try {
    const EchoService = loadEchoService(dir);
    const issuer = createTestIssuer();
    const revocations = new RevocationSet();
    const now = new Date().toISOString();
    for (let i = 0; i < 10_000; i++)
      revocations.add({ sid: `s-${i}`, sub: `u-${i}`, reason: 'logout', revokedAt: now });
    const verifier = createJwtVerifier({
      jwks: issuer.jwks,
      issuer: issuer.issuer,
      audience: issuer.audience,
      isRevoked: (p, t) => revocations.isRevoked(p, t),
    });
    const start = async (publicMethods: string[]): Promise<EchoClient> => {
      const s = await startHavenEcho(dir, EchoService, {
        auth: { verifier, publicMethods },
        logger: silent(),
      });
      stops.push(s.stop);
      const c = s.client;
      clients.push(c);
      return c;
    };
    const authed = await start([]);
    const open = await start([ECHO_METHOD]);
    // Same metadata (token included) on both sides; only the verification differs.
    const token = await issuer.sign(
      { sub: 'bench', role: 'clinician', sid: 'bench-session' },
      { expiresIn: '1h' },
    );
    const metadata = clientCallMetadata({ token, correlationId: 'bench' });
    for (let i = 0; i < 300; i++) {
      await echoOnce(authed, metadata);
      await echoOnce(open, metadata);
    }
    const { a, b } = await interleaved(
      callsPerSide,
      () => echoOnce(authed, metadata),
      () => echoOnce(open, metadata),
    );
    const withAuth = stats(a);
    const withoutAuth = stats(b);
    const p50Ratio = Math.round((withAuth.p50 / withoutAuth.p50) * 1000) / 1000;

    // verify() on its cached path vs a bare async call, and the uncached EdDSA verification.
    const iterations = 200_000;
    const bare = async (t: string): Promise<string> => t;
    await verifier.verify(token);
    let t0 = performance.now();
    for (let i = 0; i < iterations; i++) await bare(token);
    const bareNs = ((performance.now() - t0) * 1e6) / iterations;
    t0 = performance.now();
    for (let i = 0; i < iterations; i++) await verifier.verify(token);
    const cachedNs = ((performance.now() - t0) * 1e6) / iterations;
    t0 = performance.now();
    for (let i = 0; i < iterations; i++) verifier.verifyCached?.(token);
    const cachedSyncNs = ((performance.now() - t0) * 1e6) / iterations;
    const uncached = createJwtVerifier({
      jwks: issuer.jwks,
      issuer: issuer.issuer,
      audience: issuer.audience,
      cacheSize: 0,
    });
    await uncached.verify(token);
    const n2 = 2000;
    t0 = performance.now();
    for (let i = 0; i < n2; i++) await uncached.verify(token);
    const uncachedUs = ((performance.now() - t0) * 1e3) / n2;
    return {
      unit: 'ms',
      harnessWithTokenVerification: withAuth,
      harnessWithoutVerification: withoutAuth,
      p50Ratio,
      target: 1.1,
      withinTarget: p50Ratio <= 1.1,
      revocationSetEntries: revocations.size,
      verifyCachedNsPerCall: Math.round(cachedNs),
      verifyCachedSyncNsPerCall: Math.round(cachedSyncNs),
      bareAsyncCallNsPerCall: Math.round(bareNs),
      verifyUncachedEdDsaUsPerCall: Math.round(uncachedUs * 10) / 10,
    };
  } finally {
    for (const c of clients) c.close();
    for (const stop of stops) await stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs both parts: `logins` (default 30) and `callsPerSide` (default 3000). Throws when a login or call fails. */
export async function run(
  opts: { logins?: number; callsPerSide?: number } = {},
): Promise<Record<string, unknown>> {
  const logins = Math.min(Math.max(opts.logins ?? 30, 5), 500);
  const callsPerSide = Math.min(Math.max(opts.callsPerSide ?? 3000, 100), 50_000);
  return {
    name: 'identity',
    login: await loginBench(logins),
    tokenVerification: await verificationBench(callsPerSide),
  };
}

runWhenMain(module, () =>
  run({ logins: Number(process.argv[2] ?? 30), callsPerSide: Number(process.argv[3] ?? 3000) }),
);
