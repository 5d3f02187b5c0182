/**
 * What the gateway's route modules share: the gRPC clients, the logger, call metadata, and how a request's
 * cookie becomes a verified principal.
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import type { Metadata } from '@grpc/grpc-js';
import type { Request, Response } from 'express';
import { ErrorCategory, isCategory } from '@haven/errors';
import type { audit, identity, passkeys, recording, scheduling, session } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import type { Logger, Principal, RequestOf, ResponseOf, TokenVerifier } from '@haven/service';
import { httpError } from './http-errors';
import { send, unverifiedPrincipal } from './http';
import { notePrincipal, noteRefusal, noteUpstreamRefusal } from './refusals';
import { cookie } from './security';
import type { SessionCookies } from './security';

/** The gRPC clients the gateway calls. */
export interface GatewayClients {
  readonly identity: identity.IdentityServiceClient;
  /** Identity's passkeys (same server); optional so a gateway without it still serves password sign-in. */
  readonly passkeys?: passkeys.PasskeyServiceClient;
  readonly scheduling: scheduling.SchedulingServiceClient;
  /** Visits; optional so a gateway without the session service still serves sign-in and booking. */
  readonly session?: session.SessionServiceClient;
  /** A patient's own access log; optional like the session client. */
  readonly audit?: audit.AuditServiceClient;
  /** Recording playback; optional like the session client. */
  readonly recording?: recording.RecordingServiceClient;
}

/** Who is in a visit's media room right now, as learned from the bus (ParticipantJoinedMedia/LeftMedia). */
export interface MediaPresence {
  inMedia(visitId: string, participantId: string): boolean;
}

/** Shared by every route module. */
export interface RouteContext {
  readonly clients: GatewayClients;
  readonly logger: Logger;
  readonly deadlineMs: number;
  /** Sets and clears the gateway's cookies. */
  readonly cookies: SessionCookies;
  readonly tokenVerifier: TokenVerifier | undefined;
  readonly media: MediaPresence;
  /** gRPC metadata for a backend call: the correlation id and, when given, the bearer token. */
  metadataFor(res: Response, token?: string): Metadata;
  /**
   * Calls a backend's unary RPC for this request: the caller's token when given, the request's correlation id, the
   * gateway's deadline. Rejects like `callUnary`.
   */
  call<C extends object, M extends keyof C & string>(
    res: Response,
    token: string | undefined,
    client: C,
    method: M,
    request: RequestOf<C, M>,
  ): Promise<ResponseOf<C, M>>;
  /** Logs a failed backend call (method and gRPC code only). */
  logCallFailure(res: Response, rpc: string, err: unknown): void;
}

/** What {@link createRouteContext} builds the context from. */
export type RouteContextOptions = Omit<RouteContext, 'metadataFor' | 'call' | 'logCallFailure'>;

/** The route context: the given parts plus call metadata and the failed-call log line. Throws nothing. */
export function createRouteContext(options: RouteContextOptions): RouteContext {
  const { logger } = options;
  const metadataFor = (res: Response, token?: string): Metadata => {
    const correlationId = res.locals['correlationId'] as string;
    return clientCallMetadata(token === undefined ? { correlationId } : { token, correlationId });
  };
  return {
    ...options,
    metadataFor,
    call(res, token, client, method, request) {
      return callUnary(client, method, request, metadataFor(res, token), { deadlineMs: options.deadlineMs });
    },
    logCallFailure(res, rpc, err) {
      const code = (err as { code?: unknown }).code;
      // The service that refused recorded the refusal itself (same correlation id): the gateway does not again.
      if (code === grpcStatus.UNAUTHENTICATED || code === grpcStatus.PERMISSION_DENIED)
        noteUpstreamRefusal(res);
      logger.warn(
        {
          rpc,
          grpcCode: typeof code === 'number' ? code : undefined,
          correlationId: res.locals['correlationId'],
        },
        'backend call failed',
      );
    },
  };
}

/** A request's token and the principal it names. */
export interface Authenticated {
  readonly token: string;
  readonly principal: Principal;
}

/**
 * Verifies the token in cookie `name` (with the configured verifier, or by decoding it when there is none: the
 * services verify every token again). Sends 401 (no, bad or expired token) or 503 (keys unavailable) and
 * resolves undefined when the request cannot go on.
 */
export async function authenticate(
  ctx: RouteContext,
  req: Request,
  res: Response,
  name: string,
): Promise<Authenticated | undefined> {
  const token = cookie(req, name);
  if (!token) {
    noteRefusal(res, { kind: 'unauthenticated', code: 'UNAUTHENTICATED', reason: 'no session cookie' });
    send(res, httpError('UNAUTHENTICATED'));
    return undefined;
  }
  try {
    const principal = ctx.tokenVerifier ? await ctx.tokenVerifier.verify(token) : unverifiedPrincipal(token);
    if (ctx.tokenVerifier) notePrincipal(res, principal);
    return { token, principal };
  } catch (err) {
    if (isCategory(err, ErrorCategory.Unavailable)) {
      ctx.logger.warn({ err }, 'token verification unavailable');
      send(res, httpError('UNAVAILABLE'));
      return undefined;
    }
    noteRefusal(res, {
      kind: 'unauthenticated',
      code: 'UNAUTHENTICATED',
      reason: isCategory(err, ErrorCategory.Unauthenticated) ? err.message : 'session cookie not valid',
    });
    send(res, httpError('UNAUTHENTICATED'));
    return undefined;
  }
}
