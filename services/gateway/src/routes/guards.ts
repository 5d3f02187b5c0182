/**
 * The two doors every /api route goes through: `staff()` (the `haven_access` cookie, a user, optionally one of
 * some roles) and `patient()` (the `haven_patient` cookie naming a visit). Both authenticate before the handler
 * runs, record their own 401/403 as refusals, and turn a failed backend call into the HTTP answer.
 */
import type { Request, RequestHandler, Response } from 'express';
import { authenticate } from '../context';
import type { Authenticated, RouteContext } from '../context';
import { send } from '../http';
import { httpError, httpErrorFromGrpc } from '../http-errors';
import { noteRefusal } from '../refusals';
import { COOKIES } from '../security';

/** Proto field paths → the browser's names, for INVALID_ARGUMENT field violations. */
export type FieldNames = Readonly<Record<string, string>>;

/** Field names of the list queries (`?day=&timeZone=&clinicianId=&purpose=`). */
export const LIST_FIELDS: FieldNames = {
  day: 'day',
  time_zone: 'timeZone',
  clinician: 'clinicianId',
  purpose: 'purpose',
};

/** A staff route's handler, called once the caller is a signed-in user allowed on the route. */
export type StaffHandler = (req: Request, res: Response, auth: Authenticated) => Promise<void>;

/** A patient route's handler, called with the visit the patient token names. */
export type PatientHandler = (
  req: Request,
  res: Response,
  auth: Authenticated,
  visitId: string,
) => Promise<void>;

/** What a staff route calls and who may use it. */
export interface StaffRoute {
  /** The backend RPC, for the log line of a failed call (`scheduling.BookAppointment`). */
  readonly rpc: string;
  /** Renames the RPC's field violations to the browser's field names. */
  readonly fields?: FieldNames;
  /** Roles allowed (checked before any backend call); any user when absent. */
  readonly roles?: readonly string[];
}

/** A route that needs a signed-in staff user; `roles` (when given) are checked before any backend call. */
export function staff(ctx: RouteContext, route: StaffRoute, handler: StaffHandler): RequestHandler {
  const { roles } = route;
  return async (req, res) => {
    const auth = await authenticate(ctx, req, res, COOKIES.access);
    if (!auth) return;
    if (auth.principal.kind !== 'user' || (roles && !roles.includes(auth.principal.role ?? ''))) {
      noteRefusal(res, {
        kind: 'policy',
        code: 'ROLE_NOT_ALLOWED',
        reason: `${auth.principal.role ?? auth.principal.kind} may not use this route`,
      });
      send(res, httpError('PERMISSION_DENIED'));
      return;
    }
    try {
      await handler(req, res, auth);
    } catch (err) {
      ctx.logCallFailure(res, route.rpc, err);
      send(res, httpErrorFromGrpc(err, route.fields));
    }
  };
}

/** The visit a patient token is for (its `subject_of`), or undefined. */
function visitOf(auth: Authenticated): string | undefined {
  const m = /^visits\/([A-Za-z0-9_-]{1,64})$/.exec(auth.principal.subjectOf ?? '');
  return m?.[1];
}

/** The answer to a patient's call a service refused; a 409 says why in the patient's words. */
function patientFailure(res: Response, err: unknown): void {
  const mapped = httpErrorFromGrpc(err);
  if (mapped.status !== 409) {
    send(res, mapped);
    return;
  }
  const raw = (err as { details?: unknown }).details;
  const details = (typeof raw === 'string' ? raw : '').toLowerCase();
  const message = details.includes('locked')
    ? 'The clinician has locked this visit. Please wait or call the clinic.'
    : details.includes('ended')
      ? 'This visit has ended.'
      : mapped.body.error.message;
  res.status(409).json({ error: { code: 'FAILED_PRECONDITION', message } });
}

/**
 * The patient cookie's door: authenticates, lets `admit` say what the handler is for (undefined refuses with 403
 * and `refusal`), and answers a failed backend call in the patient's words.
 */
function patientDoor<T>(
  ctx: RouteContext,
  rpc: string,
  refusal: { readonly code: string; readonly reason: string },
  admit: (auth: Authenticated) => T | undefined,
  handler: (req: Request, res: Response, auth: Authenticated, admitted: T) => Promise<void>,
): RequestHandler {
  return async (req, res) => {
    const auth = await authenticate(ctx, req, res, COOKIES.patient);
    if (!auth) return;
    const admitted = admit(auth);
    if (admitted === undefined) {
      noteRefusal(res, { kind: 'permission', ...refusal });
      send(res, httpError('PERMISSION_DENIED'));
      return;
    }
    try {
      await handler(req, res, auth, admitted);
    } catch (err) {
      ctx.logCallFailure(res, rpc, err);
      patientFailure(res, err);
    }
  };
}

/**
 * A route that needs the patient cookie, of a visit or of the secure messages (`messages/{appointment}`): the
 * patient's own data whatever the token is for. Scheduling decides what the patient may see.
 */
export function anyPatient(
  ctx: RouteContext,
  rpc: string,
  handler: (req: Request, res: Response, auth: Authenticated) => Promise<void>,
): RequestHandler {
  return patientDoor(
    ctx,
    rpc,
    { code: 'NOT_A_PATIENT', reason: 'the patient cookie names no patient' },
    (auth) => (auth.principal.kind === 'patient' ? true : undefined),
    (req, res, auth) => handler(req, res, auth),
  );
}

/** A route that needs the patient cookie (a patient's or a link guest's); resolves the visit from the token. */
export function patient(ctx: RouteContext, rpc: string, handler: PatientHandler): RequestHandler {
  return patientDoor(
    ctx,
    rpc,
    { code: 'NOT_A_PATIENT_OF_A_VISIT', reason: 'the patient cookie names no visit' },
    // A patient, or a guest who joined with a one-time link: both hold a token for one visit.
    (auth) =>
      auth.principal.kind === 'patient' || auth.principal.kind === 'guest' ? visitOf(auth) : undefined,
    async (req, res, auth, visitId) => {
      if (!ctx.clients.session) {
        send(res, httpError('UNAVAILABLE'));
        return;
      }
      await handler(req, res, auth, visitId);
    },
  );
}
