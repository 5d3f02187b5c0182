import { ValidationError } from '@haven/errors';
import { v7 as uuidv7, validate as uuidValidate, version as uuidVersion } from 'uuid';
import type { Actor, NewEvent, SealedPhi } from './envelope';
import type { StreamName } from './port';

const NAME_PART = /^[a-z][a-z0-9_]*$/;
const ID_PART = /^[A-Za-z0-9_-]+$/;
const STREAM = /^([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)-([A-Za-z0-9_-]+)$/;

/** A new UUIDv7 (time-ordered): the id and idempotency key of an event. */
export function newEventId(): string {
  return uuidv7();
}

/**
 * The creation time (ms since epoch) encoded in a UUIDv7, or `undefined` when `id` is not a UUIDv7.
 * Stores use it to bound the search for an event that a late retry may already have stored.
 */
export function eventIdTimestamp(id: string): number | undefined {
  if (!uuidValidate(id) || uuidVersion(id) !== 7) return undefined;
  const hex = id.replace(/-/g, '').slice(0, 12);
  return Number.parseInt(hex, 16);
}

/**
 * Builds a stream name `<context>.<aggregate>-<id>`.
 * Throws ValidationError when a part is malformed (context and aggregate: `[a-z][a-z0-9_]*`; id: `[A-Za-z0-9_-]+`).
 */
export function streamName(parts: StreamName): string {
  const violations = [];
  if (!NAME_PART.test(parts.context))
    violations.push({ field: 'context', description: 'must match [a-z][a-z0-9_]*' });
  if (!NAME_PART.test(parts.aggregate))
    violations.push({ field: 'aggregate', description: 'must match [a-z][a-z0-9_]*' });
  if (!ID_PART.test(parts.id)) violations.push({ field: 'id', description: 'must match [A-Za-z0-9_-]+' });
  if (violations.length > 0) throw new ValidationError(violations);
  return `${parts.context}.${parts.aggregate}-${parts.id}`;
}

/**
 * Splits a stream name `<context>.<aggregate>-<id>` into its parts (the aggregate ends at the first `-`).
 * Throws ValidationError when the name is malformed.
 */
export function parseStreamName(stream: string): StreamName {
  const m = STREAM.exec(stream);
  if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) {
    throw new ValidationError([
      {
        field: 'stream',
        description: 'must be <context>.<aggregate>-<id> (lowercase context/aggregate, id [A-Za-z0-9_-]+)',
      },
    ]);
  }
  return { context: m[1], aggregate: m[2], id: m[3] };
}

/** Input of {@link newEvent}. */
export interface NewEventInput<TType extends string = string, TData = Record<string, unknown>> {
  readonly type: TType;
  readonly data: TData;
  readonly actor: Actor;
  /** Defaults to the new event's own id (the event starts a new causal chain). */
  readonly correlationId?: string;
  /** Defaults to the correlation id. */
  readonly causationId?: string;
  readonly traceparent?: string;
  readonly phi?: SealedPhi;
}

/**
 * Builds a {@link NewEvent}: a fresh UUIDv7 id, `occurredAt` = now, correlation defaulting to the id and
 * causation defaulting to the correlation. Throws nothing.
 */
export function newEvent<TType extends string, TData>(
  input: NewEventInput<TType, TData>,
): NewEvent<TType, TData> {
  const id = newEventId();
  const correlationId = input.correlationId ?? id;
  return {
    id,
    type: input.type,
    occurredAt: new Date().toISOString(),
    actor: input.actor,
    correlationId,
    causationId: input.causationId ?? correlationId,
    data: input.data,
    ...(input.traceparent !== undefined ? { traceparent: input.traceparent } : {}),
    ...(input.phi !== undefined ? { phi: input.phi } : {}),
  };
}

/** The context part of a subscription filter entry: `scheduling.` and `scheduling` both mean context `scheduling`. */
export function contextOfFilter(entry: string): string {
  return entry.endsWith('.') ? entry.slice(0, -1) : entry;
}
