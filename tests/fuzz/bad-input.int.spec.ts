/**
 * Bad input over the real services (identity, scheduling, session, recording, audit as built child processes on a
 * real nats-server and Janus), sent as raw bytes the way a fuzzer or a broken client would, never through our
 * generated clients:
 *  - undecodable request bytes to every RPC of every service (from the proto descriptors) answer INVALID_ARGUMENT
 *    with a google.rpc.BadRequest field violation, after authentication, never INTERNAL;
 *  - a google.protobuf.Timestamp out of range in any request field of any RPC answers INVALID_ARGUMENT with a
 *    field violation naming that field (e.g. ExportAuditLog `start_time`), never INTERNAL;
 *  - concurrent EnrollTotp calls with one token: every call answered with an error appended nothing (no
 *    TotpSecretIssued for its correlation id).
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { clientCallMetadata } from '@haven/service';
import {
  allowedCallers,
  startServiceStack,
  type ServiceStack,
  type StackCaller,
} from '../support/service-stack';
import {
  callRaw,
  encodeMessage,
  loadContract,
  timestampPaths,
  type Message,
  type Outcome,
  type Rpc,
} from './proto-arbitrary';

jest.setTimeout(240_000);

const contract = loadContract();
const DEADLINE_MS = 10_000;
let stack: ServiceStack;

beforeAll(async () => {
  stack = await startServiceStack();
});
afterAll(async () => {
  await stack?.stop();
});

/** A caller the access policy lets through (no token for public methods). */
function allowedCaller(rpc: Rpc): StackCaller {
  const ORDER: readonly StackCaller[] = [
    'admin',
    'clinician',
    'front_desk',
    'auditor',
    'service_account_all_scopes',
    'patient',
  ];
  const allowed = allowedCallers(rpc.path);
  const caller = allowed.includes('no_token') ? 'no_token' : ORDER.find((c) => allowed.includes(c));
  if (!caller) throw new Error(`no stack caller may call ${rpc.path}`);
  return caller;
}

function metadataFor(caller: StackCaller, correlationId: string = randomUUID()): grpc.Metadata {
  const token = stack.token(caller);
  return clientCallMetadata(token === undefined ? { correlationId } : { token, correlationId });
}

const show = (rpc: Rpc, o: Outcome): string =>
  `${rpc.path}: ${grpc.status[o.code]} "${o.details}" ${JSON.stringify(o.fieldViolations)}`;

describe('undecodable request bytes', () => {
  // Field 1, length-delimited, with a length whose varint never ends: no message type decodes it.
  const GARBAGE = Uint8Array.from([0x0a, 0xff, 0xff]);

  it('answer INVALID_ARGUMENT with a field violation on every RPC of every service', async () => {
    const outcomes = await Promise.all(
      contract.rpcs.map(async (rpc) => ({
        rpc,
        outcome: await callRaw(
          stack.rawClient(rpc.service),
          rpc,
          GARBAGE,
          metadataFor(allowedCaller(rpc)),
          DEADLINE_MS,
        ),
      })),
    );
    expect(outcomes.length).toBeGreaterThan(40);
    const wrong = outcomes.filter(
      ({ outcome }) => outcome.code !== grpc.status.INVALID_ARGUMENT || outcome.fieldViolations.length === 0,
    );
    expect(wrong.map(({ rpc, outcome }) => show(rpc, outcome))).toEqual([]);
  });

  it('are still refused UNAUTHENTICATED first when the method needs a token and none is sent', async () => {
    const rpc = contract.rpcs.find((r) => r.path === '/haven.audit.v1.AuditService/ListAuditEvents')!;
    const outcome = await callRaw(
      stack.rawClient(rpc.service),
      rpc,
      GARBAGE,
      metadataFor('no_token'),
      DEADLINE_MS,
    );
    expect(grpc.status[outcome.code]).toBe('UNAUTHENTICATED');
  });
});

describe('Timestamps out of range', () => {
  const cases = contract.rpcs.flatMap((rpc) =>
    timestampPaths(contract, contract.messages.get(rpc.requestType)!).map((path) => ({ rpc, path })),
  );

  it('are found in the requests of the contract (ExportAuditLog among them)', () => {
    expect(cases.map((c) => `${c.rpc.method}.${c.path.join('.')}`)).toEqual(
      expect.arrayContaining(['ExportAuditLog.start_time', 'ListAuditEvents.end_time']),
    );
  });

  it('answer INVALID_ARGUMENT with a violation on the field, on every RPC that takes one', async () => {
    const results = await Promise.all(
      cases.flatMap(({ rpc, path }) =>
        [
          { seconds: 1e15, nanos: 0 },
          { seconds: 253_402_300_800, nanos: 0 },
          { seconds: -62_135_596_801, nanos: 0 },
        ].map(async (ts) => {
          let value: Message = ts;
          for (const name of [...path].reverse()) value = { [name]: value };
          const bytes = encodeMessage(contract, contract.messages.get(rpc.requestType)!, value);
          const outcome = await callRaw(
            stack.rawClient(rpc.service),
            rpc,
            bytes,
            metadataFor(allowedCaller(rpc)),
            DEADLINE_MS,
          );
          return { rpc, path: path.join('.'), ts, outcome };
        }),
      ),
    );
    const wrong = results.filter(
      (r) =>
        r.outcome.code !== grpc.status.INVALID_ARGUMENT ||
        !r.outcome.fieldViolations.some((v) => v.field === r.path),
    );
    expect(wrong.map((r) => `${r.path} = ${JSON.stringify(r.ts)}: ${show(r.rpc, r.outcome)}`)).toEqual([]);
  });
});

describe('EnrollTotp under concurrent calls', () => {
  it('appends no TotpSecretIssued for a call it answers with an error', async () => {
    const rpc = contract.rpcs.find((r) => r.path === '/haven.identity.v1.IdentityService/EnrollTotp')!;
    const calls = await Promise.all(
      Array.from({ length: 24 }, async () => {
        const correlationId: string = randomUUID();
        const outcome = await callRaw(
          stack.rawClient(rpc.service),
          rpc,
          new Uint8Array(0),
          metadataFor('clinician', correlationId),
          DEADLINE_MS,
        );
        return { correlationId, outcome };
      }),
    );
    const failed = new Set(
      calls.filter((c) => c.outcome.code !== grpc.status.OK).map((c) => c.correlationId),
    );
    const ok = calls.length - failed.size;
    expect(ok).toBeGreaterThan(0);
    const issued = (await stack.events()).filter((e) => e.type === 'haven.identity.v1.TotpSecretIssued');
    const forFailed = issued.filter((e) => failed.has(e.correlationId));
    expect({ failed: failed.size, issuedForFailedCalls: forFailed.length }).toEqual({
      failed: failed.size,
      issuedForFailedCalls: 0,
    });
    expect(issued.filter((e) => calls.some((c) => c.correlationId === e.correlationId))).toHaveLength(ok);
  });
});
