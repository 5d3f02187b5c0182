/**
 * `POST /api/join` (rate-limited per client on top of scheduling's own lockout): trades the patient link's token
 * and passcode (and date of birth) for the patient token (scheduling RedeemPatientLink), kept in the httpOnly
 * cookie `haven_patient`. Messages for a refused link are written for the patient.
 */
import { status } from '@grpc/grpc-js';
import type { Request, RequestHandler, Response, Router } from 'express';
import type { scheduling } from '@haven/proto';
import { parseStatusDetails } from '@haven/service';
import type { RouteContext } from '../context';
import type { GuestJoinedView, PatientJoinedView } from '../patient-visit-view';
import { asRecord, invalid, lastSegment, send, stringField } from '../http';
import { httpErrorFromGrpc } from '../http-errors';
import type { HttpFieldViolation } from '../http-errors';

const JOIN_FIELDS = { token: 'token', passcode: 'passcode', date_of_birth: 'dateOfBirth' } as const;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** A patient-facing message for a refused RedeemPatientLink (409 unless noted). */
function refusal(serviceMessage: string): { status: number; code: string; message: string } {
  const m = serviceMessage.toLowerCase();
  const conflict = (code: string, message: string) => ({ status: 409, code, message });
  if (m.includes('locked')) return conflict('LINK_LOCKED', 'This link is locked. Please call the clinic.');
  if (m.includes('cancelled'))
    return conflict(
      'APPOINTMENT_CANCELLED',
      'This appointment was cancelled. Please call the clinic if you need a new one.',
    );
  if (m.includes('ended')) return conflict('VISIT_ENDED', 'This visit has ended. The link no longer works.');
  if (m.includes('missed'))
    return conflict('APPOINTMENT_MISSED', 'This appointment was closed as missed. Please call the clinic.');
  if (m.includes('replaced'))
    return conflict(
      'LINK_REPLACED',
      'This link was replaced by a newer one. Please use the latest link from the clinic.',
    );
  if (m.includes('not open yet')) {
    const at = /opens at (\S+)/.exec(serviceMessage)?.[1];
    return conflict(
      'LINK_NOT_OPEN',
      at
        ? `This link is not open yet. It opens 15 minutes before your appointment (${at}).`
        : 'This link is not open yet. It opens 15 minutes before your appointment.',
    );
  }
  if (m.includes('expired'))
    return conflict('LINK_EXPIRED', 'This link has expired. Please call the clinic.');
  return conflict('LINK_UNAVAILABLE', 'This link cannot be used right now. Please call the clinic.');
}

/** The join form as a RedeemPatientLinkRequest, or undefined after answering 400. */
function joinRequest(req: Request, res: Response): scheduling.RedeemPatientLinkRequest | undefined {
  const body = asRecord(req.body);
  const violations: HttpFieldViolation[] = [];
  const token = stringField(body, 'token', 256, violations)?.trim() ?? '';
  const passcode = stringField(body, 'passcode', 32, violations)?.replace(/\s+/g, '') ?? '';
  const dateOfBirth = stringField(body, 'dateOfBirth', 10, violations)?.trim() ?? '';
  if (token === '')
    violations.push({ field: 'token', description: 'is missing: open the link from the clinic again' });
  if (passcode === '') violations.push({ field: 'passcode', description: 'is required' });
  if (dateOfBirth !== '' && !DATE.test(dateOfBirth))
    violations.push({ field: 'dateOfBirth', description: 'must be a date' });
  return invalid(res, violations) ? undefined : { token, passcode, dateOfBirth, forMessages: false };
}

/** Answers a refused RedeemPatientLink in the patient's words. */
export function sendJoinFailure(res: Response, err: unknown): void {
  const code = (err as { code?: unknown }).code;
  const raw = (err as { details?: unknown }).details;
  const details = typeof raw === 'string' ? raw : '';
  if (code === status.UNAUTHENTICATED) {
    const left = /\((\d+) attempts? left\)/.exec(details)?.[1];
    const message =
      left === undefined
        ? 'That link or passcode is not right. Please check the passcode and try again.'
        : `That passcode is not right. ${left} attempt${left === '1' ? '' : 's'} left.`;
    res.status(401).json({ error: { code: 'UNAUTHENTICATED', message } });
    return;
  }
  if (code === status.FAILED_PRECONDITION) {
    const r409 = refusal(details);
    res.status(r409.status).json({ error: { code: r409.code, message: r409.message } });
    return;
  }
  if (code === status.INVALID_ARGUMENT) {
    const needsDob = parseStatusDetails(err as Parameters<typeof parseStatusDetails>[0]).fieldViolations.some(
      (v) => v.field === 'date_of_birth',
    );
    const mapped = httpErrorFromGrpc(err, JOIN_FIELDS);
    res.status(400).json({
      error: { ...mapped.body.error, ...(needsDob ? { message: 'Please enter your date of birth.' } : {}) },
      ...(needsDob ? { requiresDob: true } : {}),
    });
    return;
  }
  send(res, httpErrorFromGrpc(err, JOIN_FIELDS));
}

/** Answers a refused RedeemGuestLink in the guest's words. */
function sendGuestJoinFailure(res: Response, err: unknown): void {
  const code = (err as { code?: unknown }).code;
  const raw = (err as { details?: unknown }).details;
  const details = typeof raw === 'string' ? raw.toLowerCase() : '';
  if (code === status.FAILED_PRECONDITION) {
    const [errorCode, message] = details.includes('locked')
      ? ['LINK_LOCKED', 'This link is locked. Please ask the clinician for a new one.']
      : details.includes('already used')
        ? [
            'LINK_USED',
            'This link was already used on another device. Please ask the clinician for a new one.',
          ]
        : details.includes('revoked')
          ? ['LINK_REVOKED', 'The clinician withdrew this invitation.']
          : details.includes('ended')
            ? ['VISIT_ENDED', 'This visit has ended. The link no longer works.']
            : ['LINK_UNAVAILABLE', 'This link cannot be used any more. Please ask the clinician.'];
    res.status(409).json({ error: { code: errorCode, message } });
    return;
  }
  sendJoinFailure(res, err);
}

/** What a redeemed link gives: the visit-scoped (or messages-scoped) patient token and until when it holds. */
interface Redeemed {
  readonly accessToken: string;
  readonly expireTime?: Date | undefined;
}

/**
 * A public route that trades a link's token and passcode (the join form) for the patient cookie: `redeem` makes the
 * backend call, `failure` answers a refusal in the caller's words, `view` the answer once the cookie is set.
 */
export function redeemRoute<R extends Redeemed, V>(
  ctx: RouteContext,
  route: {
    readonly rpc: string;
    readonly redeem: (res: Response, request: scheduling.RedeemPatientLinkRequest) => Promise<R>;
    readonly failure: (res: Response, err: unknown) => void;
    readonly view: (r: R) => V;
  },
): RequestHandler {
  return async (req, res) => {
    const request = joinRequest(req, res);
    if (!request) return;
    let r: R;
    try {
      r = await route.redeem(res, request);
    } catch (err) {
      ctx.logCallFailure(res, route.rpc, err);
      route.failure(res, err);
      return;
    }
    ctx.cookies.setPatient(res, r.accessToken, r.expireTime);
    res.status(200).json(route.view(r));
  };
}

/** Registers POST /join (patients) and POST /join/guest (guests with a one-time link) on the /api router. */
export function registerPatientJoinRoutes(api: Router, ctx: RouteContext): void {
  api.post(
    '/join',
    redeemRoute(ctx, {
      rpc: 'scheduling.RedeemPatientLink',
      redeem: (res, request) =>
        ctx.call(res, undefined, ctx.clients.scheduling, 'redeemPatientLink', request),
      failure: sendJoinFailure,
      view: (r): PatientJoinedView => ({ visitId: lastSegment(r.appointment), requiresDob: false }),
    }),
  );

  // A guest's one-time link: their token goes in the same visit-scoped cookie as a patient's, so the waiting room
  // and the visit pages serve both; the services tell them apart by the token's kind.
  api.post(
    '/join/guest',
    redeemRoute(ctx, {
      rpc: 'scheduling.RedeemGuestLink',
      redeem: (res, { token, passcode }) =>
        ctx.call(res, undefined, ctx.clients.scheduling, 'redeemGuestLink', { token, passcode }),
      failure: sendGuestJoinFailure,
      view: (r): GuestJoinedView => ({ visitId: lastSegment(r.visit), guest: true }),
    }),
  );
}
