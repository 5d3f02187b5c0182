import type { Actor, EventStore } from '@haven/eventstore';
import { newEvent, refusalsAggregateOf } from '@haven/eventstore';
import type { Logger } from './logger';

/** Event type of a refused call. */
export const ACCESS_REFUSED = 'haven.security.v1.AccessRefused';
/** Event type summarising refusals dropped by the rate cap. */
export const ACCESS_REFUSALS_SUPPRESSED = 'haven.security.v1.AccessRefusalsSuppressed';

/**
 * Which check said no:
 * `unauthenticated` — no, bad, expired or revoked credentials (token, cookie, patient link);
 * `policy` — the role × RPC table of @haven/auth;
 * `permission` — an ownership or resource check in a handler or decider (another clinician's visit);
 * `state` — the resource no longer grants access (a link after its visit ended, media after a kick);
 * `csrf` — the gateway's CSRF or origin check;
 * `media` — the media plane (the signalling proxy or Janus refused a request).
 */
export const AccessRefusalKind = {
  Unauthenticated: 'unauthenticated',
  Policy: 'policy',
  Permission: 'permission',
  State: 'state',
  Csrf: 'csrf',
  Media: 'media',
} as const;
/** One of {@link AccessRefusalKind}. */
export type AccessRefusalKind = (typeof AccessRefusalKind)[keyof typeof AccessRefusalKind];

/**
 * One refusal, as handed to {@link AccessRefusalRecorder.record}. Every field is free of PHI and secrets: ids and
 * resource names only, never a token, a passcode, a name, an e-mail address or a client address.
 */
export interface AccessRefusal {
  /**
   * What was asked: a full gRPC method path (`/haven.session.v1.SessionService/AdmitParticipant`), an HTTP route
   * (`POST /api/visits/:id/admit`, the route pattern, not the URL) or a media request (`janus videoroom.join`).
   */
  readonly method: string;
  readonly kind: AccessRefusalKind;
  /** Short, PHI-free text saying why (`token expired`, `only the clinician of this visit may do that`). */
  readonly reason: string;
  /**
   * Machine code in UPPER_SNAKE_CASE (`POLICY_DENIED`, `PERMISSION`, `CSRF`, `LINK_NOT_USABLE`); default the
   * kind in upper case. Anything else is replaced by that default.
   */
  readonly code?: string;
  /**
   * The resource the caller tried to reach, as a resource name (`visits/{visit}`,
   * `visits/{visit}/participants/{participant}`, `appointments/{appointment}`). A value that is not shaped like a
   * resource name is dropped, so free text can never land here.
   */
  readonly target?: string;
  /** The verified caller; absent when nobody could be authenticated (the event's actor is then anonymous). */
  readonly principal?: { readonly kind: string; readonly id: string; readonly role?: string };
  /** The request's correlation id (`x-correlation-id`), so the refusal joins the rest of its trace. */
  readonly correlationId: string;
}

/** Records refusals as events; see {@link createAccessRefusalRecorder}. */
export interface AccessRefusalRecorder {
  /**
   * Records one refusal in the background (never blocks, never throws; a failed append is logged). Past the
   * per-minute cap the refusal is only counted, and the count is recorded once as a summary.
   */
  record(this: void, refusal: AccessRefusal): void;
  /** Resolves when every pending append finished (shutdown, tests). Never rejects. */
  flush(this: void): Promise<void>;
}

/** Options of {@link createAccessRefusalRecorder}. */
export interface AccessRefusalRecorderOptions {
  readonly store: Pick<EventStore, 'append'>;
  /** The service name (`session`, `gateway`): part of the stream name and of the event's `data.service`. */
  readonly service: string;
  readonly logger?: Logger;
  /** Refusals recorded one by one per minute; the rest are counted in one summary event (default 60). */
  readonly maxPerMinute?: number;
  readonly now?: () => Date;
}

/** `collection/id` pairs, 1–4 deep: what a resource name looks like (no spaces, no `@`, no free text). */
const RESOURCE_NAME =
  /^[a-z][A-Za-z]{0,40}\/[A-Za-z0-9_.:-]{1,128}(?:\/[a-z][A-Za-z]{0,40}\/[A-Za-z0-9_.:-]{1,128}){0,3}$/;
const CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
const ANONYMOUS: Actor = { kind: 'anonymous', id: 'unauthenticated' };
const ACTOR_KINDS = new Set<string>(['user', 'patient', 'guest', 'service_account', 'service']);

/** True when `value` is shaped like a resource name (`visits/a/participants/b`). Throws nothing. */
export function isResourceName(value: unknown): value is string {
  return typeof value === 'string' && RESOURCE_NAME.test(value);
}

/** Printable text of at most `max` characters (control characters become spaces). */
function clip(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** The `data` of an AccessRefused event (haven/security/v1/security_events.proto). */
export function accessRefusedData(service: string, refusal: AccessRefusal): Record<string, unknown> {
  const code =
    refusal.code !== undefined && CODE.test(refusal.code) ? refusal.code : refusal.kind.toUpperCase();
  return {
    method: clip(refusal.method, 200),
    kind: refusal.kind,
    reason: clip(refusal.reason, 200),
    code,
    service,
    ...(isResourceName(refusal.target) ? { target: refusal.target } : {}),
    ...(refusal.principal
      ? {
          principalKind: refusal.principal.kind,
          principalId: refusal.principal.id,
          ...(refusal.principal.role ? { role: refusal.principal.role } : {}),
        }
      : {}),
  };
}

/** The envelope actor of a refusal: the refused caller, or `anonymous/unauthenticated`. */
function actorOfRefusal(refusal: AccessRefusal): Actor {
  const p = refusal.principal;
  if (!p || !ACTOR_KINDS.has(p.kind)) return ANONYMOUS;
  return { kind: p.kind as Actor['kind'], id: p.id, ...(p.role ? { role: p.role } : {}) };
}

/**
 * The stream holding `service`'s refusals of the hour of `at` (UTC): `security.refusals_<service>-<yyyymmddhh>`.
 * Throws nothing.
 */
export function accessRefusalStream(service: string, at: Date): string {
  return `security.${refusalsAggregateOf(service)}-${at.toISOString().slice(0, 13).replace(/[-T]/g, '')}`;
}

/**
 * Records every refusal — bad, expired, revoked or missing credentials, the access policy, ownership checks,
 * state checks, CSRF, media — as a `haven.security.v1.AccessRefused` event on
 * `security.refusals_<service>-<yyyymmddhh>` (each service's own aggregate: on NATS a service may write only
 * `haven.es.security.refusals_<service>.>`), so an attack leaves a trace in the audit log. The event's actor is
 * the refused caller (anonymous when unauthenticated); `data` holds method, kind, code, reason, target, the
 * recording service and the caller's ids (see {@link accessRefusedData}). A flood cannot fill the store: past
 * `maxPerMinute` in a minute the rest are counted and recorded once as `AccessRefusalsSuppressed`. Appends run
 * in the background, in order; a failed append is logged, never thrown.
 *
 * One recorder per process: the gRPC harness (`serveHavenGrpc({ refusals })`), the gateway and the media proxy
 * share it, so the cap holds for the whole service.
 */
export function createAccessRefusalRecorder(options: AccessRefusalRecorderOptions): AccessRefusalRecorder {
  const max = options.maxPerMinute ?? 60;
  const now = options.now ?? (() => new Date());
  const service = options.service;
  let minute = '';
  let recorded = 0;
  let suppressed = 0;
  let queue: Promise<void> = Promise.resolve();
  const streamOf = (at: Date) => accessRefusalStream(service, at);
  const append = (
    type: string,
    data: Record<string, unknown>,
    at: Date,
    actor: Actor,
    correlationId?: string,
  ) => {
    const event = newEvent({ type, data, actor, ...(correlationId ? { correlationId } : {}) });
    queue = queue
      .then(async () => {
        await options.store.append(streamOf(at), 'any', [event]);
      })
      .catch((error: unknown) => options.logger?.warn({ err: error }, 'access refusal not recorded'));
  };
  return {
    record(refusal) {
      try {
        const at = now();
        const thisMinute = at.toISOString().slice(0, 16);
        if (thisMinute !== minute) {
          if (suppressed > 0) {
            append(ACCESS_REFUSALS_SUPPRESSED, { count: suppressed, minute }, at, {
              kind: 'service',
              id: service,
            });
          }
          minute = thisMinute;
          recorded = 0;
          suppressed = 0;
        }
        if (recorded >= max) {
          suppressed += 1;
          return;
        }
        recorded += 1;
        append(
          ACCESS_REFUSED,
          accessRefusedData(service, refusal),
          at,
          actorOfRefusal(refusal),
          refusal.correlationId,
        );
      } catch (error) {
        options.logger?.warn({ err: error }, 'access refusal not recorded');
      }
    },
    flush: () => queue,
  };
}
