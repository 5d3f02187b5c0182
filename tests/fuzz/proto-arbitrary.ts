/**
 * Fuzz support: every RPC of every service in proto/ (read from the proto descriptors, as the role × RPC matrix
 * does), fast-check arbitraries of valid request messages built from those descriptors, and an encoder that
 * writes them as protobuf bytes by field number — so a test can send what no generated client would (a
 * Timestamp out of range, an unknown enum value) and still be wire-valid.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import fc from 'fast-check';
import { PROTO_FILES, PROTO_ROOT } from '@haven/proto';
import { parseStatusDetails } from '@haven/service';

/** One field of a message descriptor (as @grpc/proto-loader gives it). */
export interface FieldDescriptor {
  readonly name: string;
  readonly number: number;
  readonly label: string;
  readonly type: string;
  readonly typeName: string;
}

/** A message descriptor with its fully-qualified name. */
export interface MessageDescriptor {
  readonly fullName: string;
  readonly field: readonly FieldDescriptor[];
  readonly mapEntry: boolean;
}

/** One RPC of the contract. */
export interface Rpc {
  /** Full service name, `haven.audit.v1.AuditService`. */
  readonly service: string;
  /** `/haven.audit.v1.AuditService/ExportAuditLog`. */
  readonly path: string;
  readonly method: string;
  readonly serverStreaming: boolean;
  /** Full name of the request message. */
  readonly requestType: string;
}

interface RawDescriptor {
  readonly name: string;
  readonly field?: readonly FieldDescriptor[];
  readonly nestedType?: readonly RawDescriptor[];
  readonly options?: { readonly mapEntry?: boolean } | null;
}

/** The contract: every RPC and every message type, from the .proto files. */
export interface Contract {
  readonly rpcs: readonly Rpc[];
  readonly messages: ReadonlyMap<string, MessageDescriptor>;
  /** Resolves a field's type name from the scope of the message that declares it. */
  resolve(scope: string, typeName: string): MessageDescriptor | undefined;
}

/** Loads every service and message of proto/. Throws when a method streams from the client. */
export function loadContract(): Contract {
  const definition = protoLoader.loadSync([...PROTO_FILES], { includeDirs: [PROTO_ROOT], keepCase: true });
  const messages = new Map<string, MessageDescriptor>();
  const register = (fullName: string, raw: RawDescriptor): void => {
    messages.set(fullName, {
      fullName,
      field: raw.field ?? [],
      mapEntry: raw.options?.mapEntry === true,
    });
    for (const nested of raw.nestedType ?? []) register(`${fullName}.${nested.name}`, nested);
  };
  const rpcs: Rpc[] = [];
  for (const [name, value] of Object.entries(definition)) {
    if ('format' in value) {
      if (value.format === 'Protocol Buffer 3 DescriptorProto') register(name, value.type as RawDescriptor);
      continue;
    }
    for (const [method, m] of Object.entries(value)) {
      if (m.requestStream) throw new Error(`${m.path}: client streaming is not covered`);
      rpcs.push({
        service: name,
        path: m.path,
        method,
        serverStreaming: m.responseStream,
        requestType: (m.requestType.type as RawDescriptor).name,
      });
    }
  }
  const resolve = (scope: string, typeName: string): MessageDescriptor | undefined => {
    const name = typeName.replace(/^\./, '');
    if (messages.has(name)) return messages.get(name);
    const parts = scope.split('.');
    for (let i = parts.length; i > 0; i--) {
      const candidate = `${parts.slice(0, i).join('.')}.${name}`;
      if (messages.has(candidate)) return messages.get(candidate);
    }
    return undefined;
  };
  const qualified = rpcs.map((r) => ({ ...r, requestType: fullNameOf(r.service, r.requestType) }));
  return { rpcs: qualified.sort((a, b) => a.path.localeCompare(b.path)), messages, resolve };

  /** Request types live in their service's package (`haven.audit.v1.ExportAuditLogRequest`). */
  function fullNameOf(service: string, shortName: string): string {
    const pkg = service.split('.').slice(0, -1).join('.');
    const full = `${pkg}.${shortName}`;
    if (!messages.has(full)) throw new Error(`request type ${full} not found`);
    return full;
  }
}

/** A generated message: field name → value (arrays for repeated fields; nested objects for messages). */
export type Message = { readonly [field: string]: unknown };

const INT32_EDGES = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31)];
const INT64_EDGES = [...INT32_EDGES, 2 ** 53 - 1, -(2 ** 53 - 1)];
const RESOURCE_PREFIXES = [
  'users/',
  'patients/',
  'appointments/',
  'visits/',
  'recordings/',
  'serviceAccounts/',
  'auditEvents/',
  'participants/',
  '',
];

/** Strings a service is likely to look at twice: resource names, ids, codes, long and odd text. */
const stringArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 24 }) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom(...RESOURCE_PREFIXES), fc.stringMatching(/^[a-z0-9-]{1,40}$/))
      .map(([p, id]) => `${p}${id}`),
  },
  { weight: 1, arbitrary: fc.uuid().map((u) => u) },
  { weight: 1, arbitrary: fc.stringMatching(/^\d{6}$/) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', '../../etc/passwd', '%00', 'a'.repeat(5000)) },
);

/** A google.protobuf.Timestamp: mostly near now, sometimes far outside the valid range. */
export const timestampArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    seconds: fc.integer({ min: 1_600_000_000, max: 2_000_000_000 }),
    nanos: fc.integer({ min: 0, max: 999_999_999 }),
  }),
  fc.record({
    seconds: fc.constantFrom(-62_135_596_801, 253_402_300_800, 1e15, -1e15, 2 ** 53 - 1),
    nanos: fc.constantFrom(0, -1, 1_000_000_000, 2 ** 31 - 1),
  }),
);

/**
 * Generates values of `message` up to `depth` levels of nesting. String fields draw now and then from `known`
 * (real resource names of the running stack), so a call gets past "not found" to the code behind it.
 */
export function messageArb(
  contract: Contract,
  message: MessageDescriptor,
  depth = 3,
  known: readonly string[] = [],
): fc.Arbitrary<Message> {
  if (message.fullName === 'google.protobuf.Timestamp' || message.fullName === 'google.protobuf.Duration')
    return timestampArb;
  const entries: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of message.field) {
    const single = fieldArb(contract, message, field, depth, known);
    if (single === undefined) continue;
    entries[field.name] =
      field.label === 'LABEL_REPEATED' ? fc.array(single, { maxLength: depth > 1 ? 3 : 1 }) : single;
  }
  return fc.record(entries, { requiredKeys: [] });
}

function fieldArb(
  contract: Contract,
  scope: MessageDescriptor,
  field: FieldDescriptor,
  depth: number,
  known: readonly string[],
): fc.Arbitrary<unknown> | undefined {
  switch (field.type) {
    case 'TYPE_STRING':
      return known.length === 0
        ? stringArb
        : fc.oneof({ weight: 2, arbitrary: stringArb }, { weight: 1, arbitrary: fc.constantFrom(...known) });
    case 'TYPE_BYTES':
      return fc.uint8Array({ maxLength: 64 });
    case 'TYPE_BOOL':
      return fc.boolean();
    case 'TYPE_ENUM':
      return fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom(-1, 999, 2 ** 31 - 1));
    case 'TYPE_DOUBLE':
    case 'TYPE_FLOAT':
      return fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Infinity, -0));
    case 'TYPE_INT32':
    case 'TYPE_SINT32':
    case 'TYPE_SFIXED32':
      return fc.oneof(fc.integer({ min: -5, max: 1000 }), fc.constantFrom(...INT32_EDGES));
    case 'TYPE_INT64':
    case 'TYPE_SINT64':
    case 'TYPE_SFIXED64':
      return fc.oneof(fc.integer({ min: -5, max: 1000 }), fc.constantFrom(...INT64_EDGES));
    case 'TYPE_UINT32':
    case 'TYPE_FIXED32':
    case 'TYPE_UINT64':
    case 'TYPE_FIXED64':
      return fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constantFrom(0, 2 ** 32 - 1));
    case 'TYPE_MESSAGE': {
      const nested = contract.resolve(scope.fullName, field.typeName);
      if (!nested || depth <= 0) return undefined;
      return messageArb(contract, nested, depth - 1, known);
    }
    default:
      return undefined;
  }
}

/** Encodes a generated message by field number (unknown names are skipped). Throws nothing for valid input. */
export function encodeMessage(contract: Contract, message: MessageDescriptor, value: Message): Uint8Array {
  const w = new BinaryWriter();
  writeMessage(contract, message, value, w);
  return w.finish();
}

function writeMessage(contract: Contract, message: MessageDescriptor, value: Message, w: BinaryWriter): void {
  for (const field of message.field) {
    const v = value[field.name];
    if (v === undefined) continue;
    const values = field.label === 'LABEL_REPEATED' && Array.isArray(v) ? v : [v];
    for (const one of values) writeField(contract, message, field, one, w);
  }
}

/** Protobuf's 64-bit integers from whatever number the arbitrary produced. */
const int64 = (v: unknown): bigint => BigInt(Math.trunc(Number(v)));

/** How each scalar field type goes on the wire: its wire type and the writer call for the value. */
const SCALAR_WRITERS: Readonly<Record<string, readonly [WireType, (w: BinaryWriter, v: unknown) => void]>> = {
  TYPE_STRING: [WireType.LengthDelimited, (w, v) => w.string(String(v))],
  TYPE_BYTES: [WireType.LengthDelimited, (w, v) => w.bytes(v as Uint8Array)],
  TYPE_BOOL: [WireType.Varint, (w, v) => w.bool(Boolean(v))],
  TYPE_DOUBLE: [WireType.Bit64, (w, v) => w.double(Number(v))],
  TYPE_FLOAT: [WireType.Bit32, (w, v) => w.float(Number(v))],
  TYPE_ENUM: [WireType.Varint, (w, v) => w.int32(Number(v))],
  TYPE_INT32: [WireType.Varint, (w, v) => w.int32(Number(v))],
  TYPE_SINT32: [WireType.Varint, (w, v) => w.sint32(Number(v))],
  TYPE_SFIXED32: [WireType.Bit32, (w, v) => w.sfixed32(Number(v))],
  TYPE_UINT32: [WireType.Varint, (w, v) => w.uint32(Number(v))],
  TYPE_FIXED32: [WireType.Bit32, (w, v) => w.fixed32(Number(v))],
  TYPE_INT64: [WireType.Varint, (w, v) => w.int64(int64(v))],
  TYPE_SINT64: [WireType.Varint, (w, v) => w.sint64(int64(v))],
  TYPE_SFIXED64: [WireType.Bit64, (w, v) => w.sfixed64(int64(v))],
  TYPE_UINT64: [WireType.Varint, (w, v) => w.uint64(int64(v))],
  TYPE_FIXED64: [WireType.Bit64, (w, v) => w.fixed64(int64(v))],
};

function writeField(
  contract: Contract,
  scope: MessageDescriptor,
  field: FieldDescriptor,
  v: unknown,
  w: BinaryWriter,
): void {
  const n = field.number;
  const scalar = SCALAR_WRITERS[field.type];
  if (scalar) {
    const [wireType, write] = scalar;
    write(w.tag(n, wireType), v);
    return;
  }
  if (field.type !== 'TYPE_MESSAGE') return;
  const nested = contract.resolve(scope.fullName, field.typeName);
  if (!nested) return;
  w.tag(n, WireType.LengthDelimited).fork();
  writeMessage(contract, nested, v as Message, w);
  w.join();
}

/** Paths (`appointment.start_time`) of every google.protobuf.Timestamp field of a message, up to `depth`. */
export function timestampPaths(contract: Contract, message: MessageDescriptor, depth = 3): string[][] {
  const out: string[][] = [];
  for (const field of message.field) {
    if (field.type !== 'TYPE_MESSAGE' || field.label === 'LABEL_REPEATED') continue;
    const nested = contract.resolve(message.fullName, field.typeName);
    if (!nested) continue;
    if (nested.fullName === 'google.protobuf.Timestamp') out.push([field.name]);
    else if (depth > 1 && !nested.fullName.startsWith('google.'))
      for (const p of timestampPaths(contract, nested, depth - 1)) out.push([field.name, ...p]);
  }
  return out;
}

/** The outcome of one call. */
export interface Outcome {
  readonly code: grpc.status;
  readonly details: string;
  readonly reason: string | undefined;
  readonly fieldViolations: readonly { readonly field: string; readonly description: string }[];
  readonly ms: number;
}

const raw = (b: Buffer): Buffer => b;

/** One call with raw request bytes (unary or server streaming; stream messages are drained). Never rejects. */
export function callRaw(
  client: grpc.Client,
  rpc: Rpc,
  bytes: Uint8Array,
  metadata: grpc.Metadata,
  deadlineMs: number,
): Promise<Outcome> {
  const started = Date.now();
  const deadline = started + deadlineMs;
  const toOutcome = (e: grpc.ServiceError | grpc.StatusObject | null): Outcome => {
    const ms = Date.now() - started;
    if (e === null || e.code === grpc.status.OK)
      return { code: grpc.status.OK, details: '', reason: undefined, fieldViolations: [], ms };
    const parsed = parseStatusDetails(e);
    return {
      code: e.code,
      details: e.details,
      reason: parsed.reason,
      fieldViolations: parsed.fieldViolations,
      ms,
    };
  };
  const request = Buffer.from(bytes);
  if (!rpc.serverStreaming) {
    return new Promise((resolve) => {
      client.makeUnaryRequest(rpc.path, raw, raw, request, metadata, { deadline }, (e) =>
        resolve(toOutcome(e)),
      );
    });
  }
  return new Promise((resolve) => {
    const stream = client.makeServerStreamRequest(rpc.path, raw, raw, request, metadata, { deadline });
    stream.on('data', () => undefined);
    stream.on('error', () => undefined);
    stream.on('status', (s: grpc.StatusObject) => resolve(toOutcome(s)));
  });
}
