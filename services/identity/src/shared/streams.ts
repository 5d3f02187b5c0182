/**
 * Event-store plumbing for the identity app layer: fully-qualified event types
 * (`haven.identity.v1.<Type>`) around the pure deciders, and the small index streams.
 */
import { createHash } from 'node:crypto';
import { type Actor, type EventStore, type NewEvent, type RequestRecord } from '@haven/eventstore';
import {
  commandEvent,
  findReplay,
  handleCommand,
  loadAggregate,
  type CommandResult,
  type StoredEvent,
} from '@haven/service';

/** Prefix of every identity event type. */
export const EVENT_TYPE_PREFIX = 'haven.identity.v1.';

/** Who and why, for the envelope of every event a command appends. */
export interface CommandContext {
  readonly actor: Actor;
  readonly correlationId: string;
  readonly traceparent?: string;
  /** The client's idempotent request, stored with the command's events (see handleCommand). */
  readonly request?: RequestRecord;
}

type Evt = { type: string; data: unknown };

/** A pure decider over short event names. */
export interface PureDecider<C, E extends Evt, S> {
  readonly decide: (command: C, state: S) => E[];
  readonly evolve: (state: S, event: E) => S;
  readonly initialState: S;
}

const unqualify = (type: string): string =>
  type.startsWith(EVENT_TYPE_PREFIX) ? type.slice(EVENT_TYPE_PREFIX.length) : type;

/** Loads a stream into the decider's state. */
export async function load<C, E extends Evt, S>(
  store: EventStore,
  stream: string,
  decider: PureDecider<C, E, S>,
): Promise<{ state: S; revision: bigint | 'no_stream' }> {
  const loaded = await loadAggregate<S, E>({
    store,
    stream,
    initialState: decider.initialState,
    evolve: (s, e) => decider.evolve(s, { type: unqualify(e.type), data: e.data } as E),
  });
  return { state: loaded.state, revision: loaded.expectedRevision as bigint | 'no_stream' };
}

/**
 * The state right after an idempotent request's events, when `stream` holds them (a retry); undefined when it
 * holds none. Throws RequestIdReusedError when the key was used with another request.
 */
export async function replayOf<C, E extends Evt, S>(
  store: EventStore,
  stream: string,
  decider: PureDecider<C, E, S>,
  request: RequestRecord,
): Promise<{ state: S } | undefined> {
  const replay = await findReplay<S, E>({
    store,
    stream,
    initialState: decider.initialState,
    evolve: (s, e) => decider.evolve(s, { type: unqualify(e.type), data: e.data } as E),
    request,
  });
  return replay ? { state: replay.state } : undefined;
}

/**
 * An identity event outside a decider (index and directory entries, sealed credential events, revocations),
 * with the command's envelope: actor, correlation id and, when the call carried one, its traceparent.
 */
export function identityEvent<D>(type: string, data: D, ctx: CommandContext): NewEvent<string, D> {
  return commandEvent(ctx, { type: `${EVENT_TYPE_PREFIX}${type}`, data });
}

/** Load, decide, append (with retries on concurrency). Returns the short-named events and the new state. */
export async function run<C, E extends Evt, S>(
  store: EventStore,
  stream: string,
  decider: PureDecider<C, E, S>,
  command: C,
  ctx: CommandContext,
): Promise<{ events: E[]; state: S }> {
  const result: CommandResult<S, E> = await handleCommand<S, E, C>({
    store,
    stream,
    initialState: decider.initialState,
    evolve: (s, e: StoredEvent<E>) => decider.evolve(s, { type: unqualify(e.type), data: e.data } as E),
    decide: (c, s) => decider.decide(c, s).map((e) => ({ ...e, type: `${EVENT_TYPE_PREFIX}${e.type}` })),
    command,
    metadata: {
      actor: ctx.actor,
      correlationId: ctx.correlationId,
      ...(ctx.traceparent !== undefined ? { traceparent: ctx.traceparent } : {}),
    },
    ...(ctx.request !== undefined ? { request: ctx.request } : {}),
  });
  return {
    events: result.events.map((e) => ({ type: unqualify(e.type), data: e.data }) as E),
    state: result.state,
  };
}

/** `identity.username-<sha256(username)>`: claims a username for one user id (first writer wins). */
export function usernameStream(username: string): string {
  return `identity.username-${createHash('sha256').update(username.trim().toLowerCase()).digest('hex')}`;
}

/** The directory of all user ids, in creation order (for ListUsers). */
export const USER_DIRECTORY_STREAM = 'identity.directory-users';
