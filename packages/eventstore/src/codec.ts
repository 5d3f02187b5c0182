import { currentTraceparent } from '@haven/telemetry';
import { ValidationError } from '@haven/errors';
import type { Actor, EventEnvelope, NewEvent, RequestRecord, SealedPhi } from './envelope';

/** JSON wire form of an envelope: the bigint revision as a decimal string. */
interface WireEnvelope extends Omit<EventEnvelope, 'revision'> {
  readonly revision: string;
}

/** Serialises an envelope to JSON bytes (bigint revision as a string). */
export function encodeEnvelope(envelope: EventEnvelope): Uint8Array {
  const wire: WireEnvelope = { ...envelope, revision: envelope.revision.toString() };
  return Buffer.from(JSON.stringify(wire), 'utf8');
}

/** Parses JSON bytes produced by {@link encodeEnvelope}. Throws ValidationError when a field is missing or malformed. */
export function decodeEnvelope(bytes: Uint8Array): EventEnvelope {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new ValidationError([{ field: 'body', description: 'not JSON' }], { cause });
  }
  return parseEnvelope(raw);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates a parsed JSON value as an envelope. Throws ValidationError listing the bad fields. */
export function parseEnvelope(raw: unknown): EventEnvelope {
  if (!isRecord(raw)) throw new ValidationError([{ field: 'body', description: 'not an object' }]);
  const violations: { field: string; description: string }[] = [];
  const str = (k: string): string => {
    const v = raw[k];
    if (typeof v !== 'string' || v.length === 0) {
      violations.push({ field: k, description: 'required string' });
      return '';
    }
    return v;
  };
  /** An optional object of string fields: undefined when absent, a violation when not an object of those strings. */
  const optionalStrings = <K extends string>(
    k: string,
    keys: readonly K[],
  ): Record<K, string> | undefined => {
    const v = raw[k];
    if (v === undefined) return undefined;
    if (isRecord(v) && keys.every((key) => typeof v[key] === 'string')) {
      return Object.fromEntries(keys.map((key) => [key, v[key]])) as Record<K, string>;
    }
    violations.push({ field: k, description: `must be {${keys.join(', ')}}` });
    return undefined;
  };
  const id = str('id');
  const type = str('type');
  const stream = str('stream');
  const occurredAt = str('occurredAt');
  const correlationId = str('correlationId');
  const causationId = str('causationId');
  let revision = 0n;
  const rawRev = raw['revision'];
  if (
    (typeof rawRev === 'string' && /^\d+$/.test(rawRev)) ||
    (typeof rawRev === 'number' && Number.isSafeInteger(rawRev) && rawRev >= 0)
  ) {
    revision = BigInt(rawRev);
  } else {
    violations.push({ field: 'revision', description: 'required non-negative integer' });
  }
  const actorRaw = raw['actor'];
  let actor: Actor = { kind: 'anonymous', id: '' };
  if (isRecord(actorRaw) && typeof actorRaw['kind'] === 'string' && typeof actorRaw['id'] === 'string') {
    actor = {
      kind: actorRaw['kind'] as Actor['kind'],
      id: actorRaw['id'],
      ...(typeof actorRaw['role'] === 'string' ? { role: actorRaw['role'] } : {}),
    };
  } else {
    violations.push({ field: 'actor', description: 'required {kind, id}' });
  }
  const data = raw['data'];
  if (!isRecord(data)) violations.push({ field: 'data', description: 'required object' });
  const phi: SealedPhi | undefined = optionalStrings('phi', ['subject', 'keyId', 'ciphertext']);
  const request: RequestRecord | undefined = optionalStrings('request', ['id', 'fingerprint']);
  const traceparent = raw['traceparent'];
  if (traceparent !== undefined && typeof traceparent !== 'string') {
    violations.push({ field: 'traceparent', description: 'must be a string' });
  }
  if (violations.length > 0) throw new ValidationError(violations);
  return {
    id,
    type,
    stream,
    revision,
    occurredAt,
    actor,
    correlationId,
    causationId,
    data: data as Record<string, unknown>,
    ...(typeof traceparent === 'string' ? { traceparent } : {}),
    ...(phi !== undefined ? { phi } : {}),
    ...(request !== undefined ? { request } : {}),
  };
}

/** Builds the stored envelope of a new event at a revision; fills `traceparent` from the active span when absent. */
export function toEnvelope(stream: string, revision: bigint, event: NewEvent): EventEnvelope {
  const traceparent = event.traceparent ?? currentTraceparent();
  return {
    id: event.id,
    type: event.type,
    stream,
    revision,
    occurredAt: event.occurredAt,
    actor: event.actor,
    correlationId: event.correlationId,
    causationId: event.causationId,
    data: event.data,
    ...(traceparent !== undefined ? { traceparent } : {}),
    ...(event.phi !== undefined ? { phi: event.phi } : {}),
    ...(event.request !== undefined ? { request: event.request } : {}),
  };
}

/** Checks a batch before an append. Throws ValidationError on an empty batch, a missing id or type, or a repeated id. */
export function validateBatch(events: readonly NewEvent[]): void {
  if (events.length === 0)
    throw new ValidationError([{ field: 'events', description: 'at least one event' }]);
  const seen = new Set<string>();
  events.forEach((e, i) => {
    if (typeof e.id !== 'string' || e.id.length === 0 || e.id.length > 128) {
      throw new ValidationError([
        { field: `events[${i}].id`, description: 'required, at most 128 characters' },
      ]);
    }
    if (typeof e.type !== 'string' || e.type.length === 0) {
      throw new ValidationError([{ field: `events[${i}].type`, description: 'required' }]);
    }
    if (seen.has(e.id))
      throw new ValidationError([{ field: `events[${i}].id`, description: 'repeated in the batch' }]);
    seen.add(e.id);
  });
}

/** Human form of an expected revision for error messages. */
export function describeExpected(expected: 'no_stream' | 'any' | bigint): string {
  return typeof expected === 'bigint' ? expected.toString() : expected;
}
