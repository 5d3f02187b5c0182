/**
 * The echo service the gRPC benchmarks call: one unary RPC, loaded with proto-loader from a file written into
 * the benchmark's temp dir, served bare (grpc-js) or on Haven's harness, and one timed call.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { type GrpcServiceOptions, startGrpcService } from '@haven/service';

const PROTO = `
syntax = "proto3";
package haven.bench.v1;
service EchoService {
  rpc Echo(EchoRequest) returns (EchoResponse);
}
message EchoRequest { string text = 1; }
message EchoResponse { string text = 1; }
`;

/** The full path of the one method (for `publicMethods`). */
export const ECHO_METHOD = '/haven.bench.v1.EchoService/Echo';

/** A client of the echo service. */
export type EchoClient = grpc.Client & {
  Echo(
    req: { text: string },
    md: grpc.Metadata,
    opts: Partial<grpc.CallOptions>,
    cb: (err: grpc.ServiceError | null, res?: { text: string }) => void,
  ): grpc.ClientUnaryCall;
};

/** Writes the echo proto into `dir` and loads it: the client constructor, whose `.service` is the definition. */
export function loadEchoService(dir: string): grpc.ServiceClientConstructor {
  writeFileSync(join(dir, 'echo.proto'), PROTO);
  const def = protoLoader.loadSync('echo.proto', { includeDirs: [dir], keepCase: true });
  return (
    grpc.loadPackageDefinition(def) as unknown as {
      haven: { bench: { v1: { EchoService: grpc.ServiceClientConstructor } } };
    }
  ).haven.bench.v1.EchoService;
}

/** One echo call (5 s deadline); resolves with its latency in milliseconds, rejects on any error or a bad echo. */
export function echoOnce(client: EchoClient, metadata: grpc.Metadata): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    client.Echo({ text: 'ping' }, metadata, { deadline: Date.now() + 5000 }, (err, res) => {
      const elapsed = performance.now() - started;
      if (err) reject(err);
      else if (res?.text !== 'ping') reject(new Error('bad echo'));
      else resolve(elapsed);
    });
  });
}

/** A client of the echo service `Echo` on 127.0.0.1:`port` (plaintext unless `credentials`). */
export function echoClient(
  Echo: grpc.ServiceClientConstructor,
  port: number,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): EchoClient {
  return new Echo(`127.0.0.1:${port}`, credentials) as unknown as EchoClient;
}

/** Adds the echo service `Echo` to a bare grpc-js `server` (no interceptors: the baseline side). */
export function addBareEcho(server: grpc.Server, Echo: grpc.ServiceClientConstructor): void {
  server.addService(Echo.service, {
    Echo: (
      call: grpc.ServerUnaryCall<{ text: string }, { text: string }>,
      cb: grpc.sendUnaryData<{ text: string }>,
    ) => cb(null, { text: call.request.text }),
  });
}

/**
 * Serves the echo service `Echo` (loaded from `dir`) on Haven's gRPC harness on 127.0.0.1, with `auth` and
 * `logger` and no authorization policy; answers its client and its stop.
 */
export async function startHavenEcho(
  dir: string,
  Echo: grpc.ServiceClientConstructor,
  options: Pick<GrpcServiceOptions, 'auth' | 'logger'>,
): Promise<{ client: EchoClient; stop: () => Promise<void> }> {
  const service = await startGrpcService({
    name: 'bench',
    port: 0,
    host: '127.0.0.1',
    services: [
      {
        definition: Echo.service,
        handlers: { Echo: async (req: { text: string }) => ({ text: req.text }) },
      },
    ],
    ...options,
    authorization: 'none',
    protoFiles: { root: dir, files: ['echo.proto'] },
    shutdownGraceMs: 1000,
  });
  return { client: echoClient(Echo, service.port), stop: service.stop };
}
