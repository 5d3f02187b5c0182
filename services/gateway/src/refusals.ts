/**
 * The gateway's own refusals as AccessRefused events (the `gateway` service of the security context): every
 * 401 and 403 the gateway answers by itself — no or bad session cookie, CSRF, the role a route needs, a patient
 * cookie without a visit, a WebSocket upgrade without origin, CSRF or token. A 401/403 that only passes on a
 * service's answer is not recorded again: that service recorded it (same correlation id).
 *
 * Recorded after the answer is sent, never with a URL, a body, a cookie or a client address: the route pattern
 * (`POST /api/visits/:id/admit`), the resource the path names (`visits/{id}`), the verified caller when there is
 * one, a code and the correlation id.
 */
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type {
  AccessRefusal,
  AccessRefusalKind,
  AccessRefusalRecorder,
  Principal,
  TokenVerifier,
} from '@haven/service';
import { actorOf } from '@haven/service';

/** What a route says about a refusal it answers (kept in `res.locals`, read when the response is sent). */
export interface RefusalNote {
  readonly kind: AccessRefusalKind;
  readonly code: string;
  readonly reason: string;
}

const NOTE = 'refusal';
const PRINCIPAL = 'principal';
const UPSTREAM = 'upstreamRefusal';
const WORD = /^[a-z][a-zA-Z-]*$/;
const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Notes why the gateway itself refuses this request (the recorded kind, code and reason). */
export function noteRefusal(res: Response, note: RefusalNote): void {
  res.locals[NOTE] = note;
}

/** Notes the verified caller of this request, for the refusal's actor. */
export function notePrincipal(res: Response, principal: Principal): void {
  res.locals[PRINCIPAL] = principal;
}

/** Notes that a service refused this request (UNAUTHENTICATED, PERMISSION_DENIED) and recorded it itself. */
export function noteUpstreamRefusal(res: Response): void {
  res.locals[UPSTREAM] = true;
}

/**
 * A request path as a route pattern: segments that are not plain lower-case words (ids) become `:id`. Query
 * strings are dropped; the result is at most 200 characters. Throws nothing.
 */
export function routePattern(method: string, path: string): string {
  const segments = path
    .split('?')[0]!
    .split('/')
    .map((s) => (s === '' || WORD.test(s) ? s : ':id'));
  return `${method} ${segments.join('/')}`.slice(0, 200);
}

/**
 * The resource a path names: `collection/id` pairs (`/api/visits/a/participants/b/kick` →
 * `visits/a/participants/b`), or undefined when it names none. Throws nothing.
 */
export function pathTarget(path: string): string | undefined {
  const segments = path
    .split('?')[0]!
    .split('/')
    .filter((s) => s !== '' && s !== 'api');
  const pairs: string[] = [];
  for (let i = 0; i + 1 < segments.length; i++) {
    const [collection, id] = [segments[i]!, segments[i + 1]!];
    if (WORD.test(collection) && !WORD.test(id) && ID.test(id)) {
      pairs.push(`${collection}/${id}`);
      i++;
    } else if (pairs.length > 0) break;
  }
  return pairs.length > 0 ? pairs.join('/') : undefined;
}

/** Options of {@link recordHttpRefusals}. */
export interface HttpRefusalOptions {
  readonly refusals: AccessRefusalRecorder | undefined;
  /** Verifies a cookie's token to name the caller of a request refused before it was authenticated (CSRF). */
  readonly tokenVerifier: TokenVerifier | undefined;
  /** Cookies that may carry the caller's token, in order (staff access, patient). */
  readonly tokenCookies: readonly string[];
}

/**
 * Express middleware: when the response is a 401 or 403 the gateway produced itself, records it. Goes first on
 * the router whose refusals it records. Never delays or changes the answer.
 */
export function recordHttpRefusals(options: HttpRefusalOptions) {
  const { refusals } = options;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (refusals) {
      res.on('finish', () => {
        if ((res.statusCode !== 401 && res.statusCode !== 403) || res.locals[UPSTREAM] === true) return;
        const note = res.locals[NOTE] as RefusalNote | undefined;
        const unauthenticated = res.statusCode === 401;
        const path = `${req.baseUrl}${req.path}`;
        const target = pathTarget(path);
        const base = {
          method: routePattern(req.method, path),
          kind: note?.kind ?? (unauthenticated ? 'unauthenticated' : 'permission'),
          code: note?.code ?? (unauthenticated ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED'),
          reason: note?.reason ?? (unauthenticated ? 'no valid session' : 'not allowed'),
          ...(target !== undefined ? { target } : {}),
          correlationId: String(res.locals['correlationId'] ?? ''),
        } as const;
        void callerOf(req, res, options).then((principal) =>
          refusals.record({ ...base, ...(principal ? { principal: actorOf(principal) } : {}) }),
        );
      });
    }
    next();
  };
}

/** The verified caller: noted by the route, else a cookie token that verifies, else none. Never rejects. */
async function callerOf(
  req: Request,
  res: Response,
  options: HttpRefusalOptions,
): Promise<Principal | undefined> {
  const noted = res.locals[PRINCIPAL] as Principal | undefined;
  if (noted || !options.tokenVerifier) return noted;
  const cookies = (req.cookies ?? {}) as Record<string, unknown>;
  for (const name of options.tokenCookies) {
    const token = cookies[name];
    if (typeof token !== 'string' || token === '') continue;
    try {
      return await options.tokenVerifier.verify(token);
    } catch {
      // Not a token we issued (or expired): the refusal stays anonymous.
    }
  }
  return undefined;
}

/**
 * Records a refused WebSocket upgrade of `path` (`GET /api/ws`): why, and the verified caller when there is one;
 * no URL, cookie or client address. A fresh correlation id (an upgrade has none). Never throws.
 */
export function recordUpgradeRefusal(
  refusals: AccessRefusalRecorder | undefined,
  path: string,
  why: Pick<AccessRefusal, 'kind' | 'code' | 'reason'>,
  principal?: Principal,
): void {
  refusals?.record({
    method: `GET ${path}`,
    ...why,
    ...(principal ? { principal: actorOf(principal) } : {}),
    correlationId: randomUUID(),
  });
}
