/**
 * Cost of mutual TLS on gRPC: a bare @grpc/grpc-js echo server with the credentials Haven's services use
 * (a certificate of the dev PKI, client certificates required) against the same server in plaintext, same
 * process, 127.0.0.1, call by call alternating. Two measures: a new connection and its first call (the handshake,
 * paid once per connection) and a call on an open connection (what every RPC pays). `run()` returns JSON; target:
 * p50 ratio of calls on an open connection <= 1.2 (the handshake ratio is reported, not targeted).
 * Stand-alone: `node -r ts-node/register/transpile-only tests/bench/mtls.bench.ts [callsPerSide]`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { sharedTestPki } from '@haven/testing';
import { addBareEcho, echoClient, echoOnce, loadEchoService, type EchoClient } from './echo';
import { ascending, interleaved, percentile, round3 } from './stats';
import { runWhenMain } from './main';

/** p50/p99 of one side, milliseconds. */
export interface MtlsSide {
  readonly p50: number;
  readonly p99: number;
}

/** Result of {@link run}. */
export interface MtlsBenchResult {
  readonly name: 'grpc-mtls-cost';
  readonly unit: 'ms';
  readonly newConnection: {
    readonly mtls: MtlsSide;
    readonly plaintext: MtlsSide;
    readonly p50Ratio: number;
  };
  readonly openConnection: {
    readonly mtls: MtlsSide;
    readonly plaintext: MtlsSide;
    readonly p50Ratio: number;
  };
  readonly target: 1.2;
  readonly withinTarget: boolean;
  readonly order: 'interleaved';
}

const side = (samples: readonly number[]): MtlsSide => {
  const sorted = ascending(samples);
  return { p50: round3(percentile(sorted, 50)), p99: round3(percentile(sorted, 99)) };
};

async function bind(server: grpc.Server, credentials: grpc.ServerCredentials): Promise<number> {
  return await new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (error, port) => (error ? reject(error) : resolve(port))),
  );
}

/** Runs the benchmark: `connections` new connections and `calls` open-connection calls per side. */
export async function run(options: { connections?: number; calls?: number } = {}): Promise<MtlsBenchResult> {
  const connections = options.connections ?? 200;
  const calls = options.calls ?? 2_000;
  const dir = mkdtempSync(join(tmpdir(), 'haven-bench-mtls-'));
  const pki = await sharedTestPki();
  const Echo = loadEchoService(dir);
  const server = new grpc.Server();
  addBareEcho(server, Echo);
  const own = pki.files('audit');
  const tls = grpc.ServerCredentials.createSsl(
    readFileSync(pki.caFile),
    [{ cert_chain: readFileSync(own.certFile), private_key: readFileSync(own.keyFile) }],
    true,
  );
  const tlsPort = await bind(server, tls);
  const plainPort = await bind(server, grpc.ServerCredentials.createInsecure());
  const clientCredentials = pki.grpcCredentials('gateway');
  const metadata = new grpc.Metadata();
  const open = (tlsSide: boolean): EchoClient =>
    echoClient(Echo, tlsSide ? tlsPort : plainPort, tlsSide ? clientCredentials : undefined);
  const once = async (tlsSide: boolean): Promise<number> => {
    const client = open(tlsSide);
    const started = performance.now();
    try {
      await echoOnce(client, metadata);
      return performance.now() - started;
    } finally {
      client.close();
    }
  };
  try {
    for (let i = 0; i < 20; i++) await Promise.all([once(true), once(false)]); // warm-up
    const fresh = await interleaved(
      connections,
      () => once(true),
      () => once(false),
    );
    const tlsClient = open(true);
    const plainClient = open(false);
    for (let i = 0; i < 200; i++)
      await Promise.all([echoOnce(tlsClient, metadata), echoOnce(plainClient, metadata)]);
    const steady = await interleaved(
      calls,
      () => echoOnce(tlsClient, metadata),
      () => echoOnce(plainClient, metadata),
    );
    tlsClient.close();
    plainClient.close();
    const newConnection = { mtls: side(fresh.a), plaintext: side(fresh.b) };
    const openConnection = { mtls: side(steady.a), plaintext: side(steady.b) };
    const openRatio = round3(openConnection.mtls.p50 / openConnection.plaintext.p50);
    return {
      name: 'grpc-mtls-cost',
      unit: 'ms',
      newConnection: {
        ...newConnection,
        p50Ratio: round3(newConnection.mtls.p50 / newConnection.plaintext.p50),
      },
      openConnection: { ...openConnection, p50Ratio: openRatio },
      target: 1.2,
      withinTarget: openRatio <= 1.2,
      order: 'interleaved',
    };
  } finally {
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  }
}

runWhenMain(module, () => {
  const calls = Number(process.argv[2] ?? 2_000);

  return run({ calls });
});
