import { Metadata } from '@grpc/grpc-js';
import type { Client } from '@grpc/grpc-js';

const CHECK_PATH = '/grpc.health.v1.Health/Check';
/** grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING */
const SERVING = 1;

/** HealthCheckRequest { string service = 1; } */
function encodeRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  if (name.length === 0) return Buffer.alloc(0);
  if (name.length > 127) throw new RangeError('health check service name too long');
  return Buffer.concat([Buffer.from([0x0a, name.length]), name]);
}

/** HealthCheckResponse { ServingStatus status = 1; }: returns the status (0 when absent). */
function decodeStatus(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length) {
    const tag = bytes[i++] ?? 0;
    if (tag === 0x08) {
      let value = 0;
      let shift = 0;
      for (let n = 0; n < 5 && i < bytes.length; n++) {
        const b = bytes[i++] ?? 0;
        value |= (b & 0x7f) << shift;
        shift += 7;
        if ((b & 0x80) === 0) break;
      }
      return value;
    }
    return 0; // the response has no other fields
  }
  return 0;
}

/**
 * Asks a gRPC server's standard health service (over the client's own channel) whether `service` ('' = the
 * whole server) is SERVING. Resolves true or false; never rejects (a failed call, including the deadline
 * passing, is false).
 */
export function checkGrpcHealth(
  client: Client,
  options: { readonly service?: string; readonly deadlineMs: number },
): Promise<boolean> {
  return new Promise((resolve) => {
    client.makeUnaryRequest<Buffer, number>(
      CHECK_PATH,
      (value) => value,
      decodeStatus,
      encodeRequest(options.service ?? ''),
      new Metadata(),
      { deadline: new Date(Date.now() + options.deadlineMs) },
      (err, value) => resolve(!err && value === SERVING),
    );
  });
}
