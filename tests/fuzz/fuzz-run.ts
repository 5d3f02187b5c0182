/**
 * The fuzz run shared by `tests/fuzz/fuzz.int.spec.ts` (short, in `npm test`) and `tests/fuzz/fuzz.soak.ts` (long,
 * `npm run soak -- fuzz`): every RPC of every service (from the proto descriptors) is called over the real
 * services with random bytes and with random valid messages (fast-check, seeded), as every kind of caller and
 * without a token, a few at a time. It checks, and reports as problems:
 *  - crashes: every process still running and SERVING at the end;
 *  - hangs: a call not answered within its deadline (DEADLINE_EXCEEDED at the client);
 *  - undocumented status codes: INTERNAL and UNKNOWN never; otherwise only OK, INVALID_ARGUMENT,
 *    UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED and the codes the RPC's (or its service's) proto comment
 *    names;
 *  - appends for rejected requests: a call answered with an error may leave only its refusal (AccessRefused,
 *    LoginFailed / AccountLocked, a failed passcode, a refused erasure, a refused PhiAccessed: REFUSAL_EVENTS),
 *    found by the correlation id every call carries.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { PROTO_ROOT } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import { identity, scheduling, session } from '@haven/proto';
import { allowedCallers, STACK_CALLERS, type ServiceStack, type StackCaller } from '../support/service-stack';
import { callRaw, encodeMessage, loadContract, messageArb, type Contract, type Rpc } from './proto-arbitrary';

/** Options of {@link runFuzz}. */
export interface FuzzOptions {
  /** Calls to make (an upper bound: the run also stops at `durationMs`). */
  readonly calls: number;
  /** Longest the run may take, ms. */
  readonly durationMs: number;
  /** Calls in flight at once. */
  readonly concurrency: number;
  /** fast-check seed (printed, so a run can be replayed). */
  readonly seed: number;
  /** Client deadline per call; not answered by then counts as a hang. */
  readonly deadlineMs?: number;
  readonly log?: (line: string) => void;
}

/** What a run did and found. */
export interface FuzzReport {
  readonly counts: Record<string, number | string>;
  readonly problems: string[];
}

const ALWAYS_ALLOWED = new Set([
  'OK',
  'INVALID_ARGUMENT',
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  'UNIMPLEMENTED',
]);
const NEVER = new Set(['INTERNAL', 'UNKNOWN', 'DATA_LOSS']);
const CODE_NAMES = Object.keys(grpc.status).filter((k) => Number.isNaN(Number(k)));
/**
 * What a rejected request may leave behind: its refusal. Besides the generic AccessRefused, the commands whose
 * refusal is itself part of the record: a failed sign-in or passkey ceremony, a wrong passcode on any link, an
 * erasure refused while the patient has a visit in progress or to come.
 */
const REFUSAL_EVENTS = new Set([
  'haven.security.v1.AccessRefused',
  'haven.identity.v1.LoginFailed',
  'haven.identity.v1.AccountLocked',
  'haven.identity.v1.PasskeyCeremonyRefused',
  'haven.scheduling.v1.PassCodeAttemptFailed',
  'haven.scheduling.v1.GuestLinkPassCodeAttemptFailed',
  'haven.scheduling.v1.MessagesLinkPasscodeFailed',
  'haven.scheduling.v1.PatientErasureRefused',
]);

/** The status codes each RPC's proto comment (and its service's) names, by full method path. */
export function documentedCodes(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const files = readdirSync(join(PROTO_ROOT, 'haven'), { recursive: true, encoding: 'utf8' }).filter((f) =>
    f.endsWith('_service.proto'),
  );
  const codesIn = (text: string): Set<string> =>
    new Set(CODE_NAMES.filter((c) => new RegExp(`\\b${c}\\b`).test(text)));
  for (const file of files) {
    const text = readFileSync(join(PROTO_ROOT, 'haven', file), 'utf8');
    const pkg = /^package\s+([\w.]+);/m.exec(text)?.[1] ?? '';
    let comment: string[] = [];
    let service = '';
    let serviceCodes = new Set<string>();
    for (const line of text.split('\n')) {
      const trimmed = line.trim();
      if (trimmed.startsWith('//')) {
        comment.push(trimmed.slice(2));
        continue;
      }
      const s = /^service\s+(\w+)/.exec(trimmed);
      const r = /^rpc\s+(\w+)\s*\(/.exec(trimmed);
      if (s?.[1]) {
        service = `${pkg}.${s[1]}`;
        serviceCodes = codesIn(comment.join(' '));
      } else if (r?.[1] && service) {
        out.set(`/${service}/${r[1]}`, new Set([...serviceCodes, ...codesIn(comment.join(' '))]));
      }
      comment = [];
    }
  }
  return out;
}

/** Real resource names of the stack (users, patients, appointments, visits), for the generator to reuse. */
async function knownNames(stack: ServiceStack): Promise<string[]> {
  const names = new Set<string>();
  const md = (caller: StackCaller) => clientCallMetadata({ token: stack.token(caller)! });
  /** Runs `list` with a client of `service` when the stack runs it (throws when it must), and closes the client. */
  const listWith = async <C extends grpc.Client>(
    service: string,
    Client: new (address: string, credentials: grpc.ChannelCredentials) => C,
    list: (client: C) => Promise<void>,
    options: { readonly required?: boolean } = {},
  ): Promise<void> => {
    const address = stack.addresses.get(service);
    if (!address && options.required) throw new Error(`the stack runs no ${service}`);
    if (!address) return;
    const client = new Client(address, stack.credentials);
    try {
      await list(client);
    } finally {
      client.close();
    }
  };
  await listWith(
    'haven.identity.v1.IdentityService',
    identity.IdentityServiceClient,
    async (id) => {
      const users = await callUnary(id, 'listUsers', identity.ListUsersRequest.fromPartial({}), md('admin'));
      for (const u of users.users) names.add(u.name);
    },
    { required: true },
  );
  await listWith(
    'haven.scheduling.v1.SchedulingService',
    scheduling.SchedulingServiceClient,
    async (sched) => {
      const request = scheduling.ListAppointmentsRequest.fromPartial({});
      const list = await callUnary(sched, 'listAppointments', request, md('front_desk'));
      for (const a of list.appointments) names.add(a.name).add(a.patient).add(a.clinician);
    },
  );
  await listWith('haven.session.v1.SessionService', session.SessionServiceClient, async (sess) => {
    const visits = await callUnary(
      sess,
      'listVisits',
      session.ListVisitsRequest.fromPartial({}),
      md('clinician'),
    );
    for (const v of visits.visits) names.add(v.name);
  });
  names.delete('');
  return [...names];
}

interface Call {
  readonly rpc: Rpc;
  readonly caller: StackCaller;
  readonly kind: 'bytes' | 'message';
  readonly bytes: Uint8Array;
}

function callArb(contract: Contract, known: readonly string[]): fc.Arbitrary<Call> {
  const rpcs = contract.rpcs;
  return fc
    .record({
      rpc: fc.constantFrom(...rpcs),
      // Half the calls as a caller the policy allows (to reach the handler), half as anyone.
      allowed: fc.boolean(),
      anyCaller: fc.constantFrom(...STACK_CALLERS),
      pick: fc.nat(),
      kind: fc.constantFrom<'bytes' | 'message'>('bytes', 'message', 'message', 'message'),
      seed: fc.integer(),
      raw: fc.uint8Array({ maxLength: 256 }),
    })
    .map(({ rpc, allowed, anyCaller, pick, kind, seed, raw }) => {
      const permitted = allowedCallers(rpc.path);
      const caller = allowed && permitted.length > 0 ? permitted[pick % permitted.length]! : anyCaller;
      if (kind === 'bytes') return { rpc, caller, kind, bytes: raw };
      const message = contract.messages.get(rpc.requestType)!;
      const [value] = fc.sample(messageArb(contract, message, 3, known), { numRuns: 1, seed });
      return { rpc, caller, kind, bytes: encodeMessage(contract, message, value ?? {}) };
    });
}

/** Runs the fuzz over a running stack (all services, with callers). Resolves with counts and problems. */
export async function runFuzz(stack: ServiceStack, options: FuzzOptions): Promise<FuzzReport> {
  const log = options.log ?? (() => undefined);
  const contract = loadContract();
  const documented = documentedCodes();
  const deadlineMs = options.deadlineMs ?? 15_000;
  const known = await knownNames(stack);
  // Generated in batches (a long run makes hundreds of thousands of calls), each batch seeded from the run's seed.
  const arb = callArb(contract, known);
  const BATCH = 500;
  let buffer: Call[] = [];
  let batches = 0;
  const nextCall = (): Call => {
    if (buffer.length === 0) buffer = fc.sample(arb, { numRuns: BATCH, seed: options.seed + batches++ });
    return buffer.pop()!;
  };
  log(
    `fuzz: seed ${options.seed}, up to ${options.calls} calls, ${contract.rpcs.length} RPCs, ${known.length} names`,
  );
  const problems: string[] = [];
  const byCode = new Map<string, number>();
  const rejected = new Map<string, string>(); // correlation id → "path code"
  const startedAt = Date.now();
  let made = 0;
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < options.calls && Date.now() - startedAt < options.durationMs) {
      started += 1;
      const call = nextCall();
      // A fuzzed Logout (or a password change) ends a staff caller's session now and then: sign them in again.
      if (made > 0 && made % 50 === 0) await stack.signInStaff().catch(() => undefined);
      const correlationId = randomUUID();
      const token = stack.token(call.caller);
      const metadata = clientCallMetadata(token === undefined ? { correlationId } : { token, correlationId });
      const outcome = await callRaw(
        stack.rawClient(call.rpc.service),
        call.rpc,
        call.bytes,
        metadata,
        deadlineMs,
      );
      made += 1;
      const code = grpc.status[outcome.code] ?? String(outcome.code);
      byCode.set(code, (byCode.get(code) ?? 0) + 1);
      const where = `${call.rpc.path} as ${call.caller} (${call.kind}, ${call.bytes.length} bytes)`;
      if (code === 'DEADLINE_EXCEEDED') problems.push(`hang: ${where} not answered within ${deadlineMs} ms`);
      else if (NEVER.has(code)) problems.push(`${code}: ${where}: ${outcome.details}`);
      else if (!ALWAYS_ALLOWED.has(code) && !documented.get(call.rpc.path)?.has(code))
        problems.push(`undocumented ${code}: ${where}: ${outcome.details}`);
      if (outcome.code !== grpc.status.OK) rejected.set(correlationId, `${call.rpc.path} ${code}`);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
  const elapsedMs = Date.now() - startedAt;

  // Appends for rejected requests (the refusal recorders write after answering: give them a moment).
  await new Promise((r) => setTimeout(r, 2000));
  const events = await stack.events();
  let appendedForRejected = 0;
  for (const e of events) {
    const call = rejected.get(e.correlationId);
    if (call === undefined || REFUSAL_EVENTS.has(e.type)) continue;
    if (e.type === 'haven.events.v1.PhiAccessed' && e.data['outcome'] !== 'granted') continue;
    appendedForRejected += 1;
    problems.push(`appended ${e.type} to ${e.stream} for a rejected call: ${call}`);
  }
  if (!(await stack.healthy()))
    problems.push(`a service is down or not SERVING after the run:\n${stack.logs(20)}`);
  const counts: Record<string, number | string> = {
    seed: options.seed,
    calls: made,
    rpcs: contract.rpcs.length,
    elapsedMs,
    rejected: rejected.size,
    appendedForRejected,
    eventsInStore: events.length,
    ...Object.fromEntries([...byCode].sort().map(([c, n]) => [`code ${c}`, n])),
  };
  log(`fuzz: ${JSON.stringify(counts)}`);
  return { counts, problems };
}
