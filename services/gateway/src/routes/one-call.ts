/**
 * The shape most /api routes have: read the path id and the body (field violations answer 400), make one backend
 * call with the caller's token, answer its JSON view. A route built with {@link oneCall} states only its request
 * and its view; the door around it (`staff()`, `anyPatient()`) still authenticates, checks roles and maps a
 * failed call to its HTTP answer.
 */
import type { Request, Response } from 'express';
import type { RequestOf, ResponseOf } from '@haven/service';
import type { Authenticated, GatewayClients, RouteContext } from '../context';
import { asRecord, invalid, pathId, send } from '../http';
import { httpError } from '../http-errors';
import type { HttpFieldViolation } from '../http-errors';

/** What a one-call route reads its request from. */
export interface CallInput {
  readonly req: Request;
  /** The caller's token and principal. */
  readonly auth: Authenticated;
  /**
   * What the route is on: the visit the patient token names behind `patient()`, else the `:id` path parameter,
   * checked (404 otherwise); '' on a path without one.
   */
  readonly id: string;
  /** The body as a record ({} for anything else). */
  readonly body: Record<string, unknown>;
  /** Where `request` records field violations: any of them answers 400 before the call. */
  readonly violations: HttpFieldViolation[];
}

/** The client of `K`, present. */
type ClientOf<K extends keyof GatewayClients> = NonNullable<GatewayClients[K]>;

/** One backend call as a route: which client and method, the request, and the answer's JSON. */
export interface OneCall<K extends keyof GatewayClients, M extends keyof ClientOf<K> & string> {
  /** The backend (503 when this gateway has no client for it). */
  readonly client: K;
  readonly method: M;
  /** The request; its field violations go in `input.violations`. */
  readonly request: (input: CallInput) => RequestOf<ClientOf<K>, M>;
  /** The answer's body. */
  readonly view: (response: ResponseOf<ClientOf<K>, M>, input: CallInput) => unknown;
  /** The answer's status, 200 unless given (201 for a create). */
  readonly status?: number;
  /** Headers of the answer (`cache-control`, `content-disposition`). */
  readonly headers?: (input: CallInput) => Readonly<Record<string, string>>;
}

/**
 * A route handler that makes one backend call (a staff or a patient door's): the path id checked (404), the client present (503), the request's
 * field violations answered (400), then the call with the caller's token and its view. Rejects like the call, for
 * the door to answer.
 */
export function oneCall<K extends keyof GatewayClients, M extends keyof ClientOf<K> & string>(
  ctx: RouteContext,
  spec: OneCall<K, M>,
): (req: Request, res: Response, auth: Authenticated, visitId?: string) => Promise<void> {
  return async (req, res, auth, visitId) => {
    const id = visitId ?? (Object.hasOwn(req.params, 'id') ? pathId(req, res) : '');
    if (id === undefined) return;
    const client = ctx.clients[spec.client];
    if (!client) {
      send(res, httpError('UNAVAILABLE'));
      return;
    }
    const input: CallInput = { req, auth, id, body: asRecord(req.body), violations: [] };
    const request = spec.request(input);
    if (invalid(res, input.violations)) return;
    const r = await ctx.call(res, auth.token, client, spec.method, request);
    for (const [name, value] of Object.entries(spec.headers?.(input) ?? {})) res.setHeader(name, value);
    res.status(spec.status ?? 200).json(spec.view(r, input));
  };
}
