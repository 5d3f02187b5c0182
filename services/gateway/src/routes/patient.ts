/**
 * Patient routes: POST /api/join trades the link token and passcode (and date of birth) for the patient token
 * (scheduling RedeemPatientLink), kept in the httpOnly cookie `haven_patient` (path /api); the other routes use it
 * as the bearer to the session service. Messages for a refused link are written for the patient.
 */
import { status } from '@grpc/grpc-js';
import type { CookieOptions, Request, RequestHandler, Response, Router } from 'express';
import { audit, phiEvents, session } from '@haven/proto';
import type { scheduling } from '@haven/proto';
import { callUnary, parseStatusDetails } from '@haven/service';
import { authenticate } from '../context';
import type { Authenticated, RouteContext } from '../context';
import { asRecord, lastSegment, send, stringField } from '../http';
import { httpError, httpErrorFromGrpc } from '../http-errors';
import type { HttpFieldViolation } from '../http-errors';
import { noteRefusal } from '../refusals';
import { mediaView } from './staff';

/** The cookie holding the patient token. */
export const PATIENT_COOKIE = 'haven_patient';

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

function visitOf(auth: Authenticated): string | undefined {
  const subject = auth.principal.subjectOf ?? '';
  const m = /^visits\/([A-Za-z0-9_-]{1,64})$/.exec(subject);
  return m?.[1];
}

const PURPOSE_NAMES: Record<number, string> = {
  [phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_TREATMENT]: 'treatment',
  [phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_PAYMENT]: 'payment',
  [phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_OPERATIONS]: 'operations',
  [phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_PATIENT_REQUEST]: 'your request',
  [phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_EMERGENCY]: 'emergency',
};
const OUTCOME_NAMES: Record<number, string> = {
  [phiEvents.PhiAccessOutcome.PHI_ACCESS_OUTCOME_GRANTED]: 'granted',
  [phiEvents.PhiAccessOutcome.PHI_ACCESS_OUTCOME_DENIED]: 'denied',
  [phiEvents.PhiAccessOutcome.PHI_ACCESS_OUTCOME_FAILED]: 'failed',
};

/** Registers the patient routes on the /api router. */
export function registerPatientRoutes(api: Router, ctx: RouteContext): void {
  const { clients, deadlineMs } = ctx;
  const opts = { deadlineMs };
  const patientCookie: CookieOptions = {
    secure: ctx.cookieSecure,
    sameSite: 'strict',
    httpOnly: true,
    path: '/api',
  };

  api.post('/join', async (req, res) => {
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
    if (violations.length > 0) {
      send(res, httpError('INVALID_ARGUMENT', violations));
      return;
    }
    let r: scheduling.RedeemPatientLinkResponse;
    try {
      r = await callUnary(
        clients.scheduling,
        'redeemPatientLink',
        { token, passcode, dateOfBirth },
        ctx.metadataFor(res),
        opts,
      );
    } catch (err) {
      ctx.logCallFailure(res, 'scheduling.RedeemPatientLink', err);
      const code = (err as { code?: unknown }).code;
      const details =
        typeof (err as { details?: unknown }).details === 'string'
          ? (err as { details: string }).details
          : '';
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
        const needsDob = parseStatusDetails(
          err as Parameters<typeof parseStatusDetails>[0],
        ).fieldViolations.some((v) => v.field === 'date_of_birth');
        const mapped = httpErrorFromGrpc(err, JOIN_FIELDS);
        res.status(400).json({
          error: {
            ...mapped.body.error,
            ...(needsDob ? { message: 'Please enter your date of birth.' } : {}),
          },
          ...(needsDob ? { requiresDob: true } : {}),
        });
        return;
      }
      send(res, httpErrorFromGrpc(err, JOIN_FIELDS));
      return;
    }
    const maxAge = Math.max((r.expireTime?.getTime() ?? Date.now() + 3_600_000) - Date.now(), 1000);
    res.cookie(PATIENT_COOKIE, r.accessToken, { ...patientCookie, maxAge });
    res.status(200).json({ visitId: lastSegment(r.appointment), requiresDob: false });
  });

  /** A route that needs the patient cookie; resolves the patient's visit from the token. */
  const patient =
    (
      rpc: string,
      handler: (req: Request, res: Response, auth: Authenticated, visitId: string) => Promise<void>,
    ): RequestHandler =>
    async (req, res) => {
      const auth = await authenticate(ctx, req, res, PATIENT_COOKIE);
      if (!auth) return;
      const visitId = visitOf(auth);
      if (auth.principal.kind !== 'patient' || !visitId) {
        noteRefusal(res, {
          kind: 'permission',
          code: 'NOT_A_PATIENT_OF_A_VISIT',
          reason: 'the patient cookie names no visit',
        });
        send(res, httpError('PERMISSION_DENIED'));
        return;
      }
      if (!clients.session) {
        send(res, httpError('UNAVAILABLE'));
        return;
      }
      try {
        await handler(req, res, auth, visitId);
      } catch (err) {
        ctx.logCallFailure(res, rpc, err);
        const mapped = httpErrorFromGrpc(err);
        if (mapped.status === 409) {
          const raw = (err as { details?: unknown }).details;
          const details = (typeof raw === 'string' ? raw : '').toLowerCase();
          const message = details.includes('locked')
            ? 'The clinician has locked this visit. Please wait or call the clinic.'
            : details.includes('ended')
              ? 'This visit has ended.'
              : mapped.body.error.message;
          res.status(409).json({ error: { code: 'FAILED_PRECONDITION', message } });
          return;
        }
        send(res, mapped);
      }
    };

  api.post(
    '/patient/lobby',
    patient('session.JoinLobby', async (_req, res, { token }, visitId) => {
      await callUnary(
        clients.session!,
        'joinLobby',
        session.JoinLobbyRequest.fromPartial({ appointment: `appointments/${visitId}` }),
        ctx.metadataFor(res, token),
        opts,
      );
      res.status(200).json({ status: 'waiting', visitId });
    }),
  );

  api.get(
    '/patient/visit',
    patient('session.GetVisit', async (_req, res, { token, principal }, visitId) => {
      const r = await callUnary(
        clients.session!,
        'getVisit',
        { name: `visits/${visitId}` },
        ctx.metadataFor(res, token),
        opts,
      );
      const visit = r.visit;
      if (!visit) {
        send(res, httpError('NOT_FOUND'));
        return;
      }
      res
        .status(200)
        .json({ visitId, status: patientStatus(visit, `patients/${principal.id}`), locked: visit.locked });
    }),
  );

  // The patient's own access log: who (by role) read their record, when, what, why and with what outcome.
  api.get(
    '/patient/access-log',
    patient('audit.ListMyAccessLog', async (_req, res, { token }) => {
      if (!clients.audit) {
        send(res, httpError('UNAVAILABLE'));
        return;
      }
      const r = await callUnary(
        clients.audit,
        'listMyAccessLog',
        audit.ListMyAccessLogRequest.fromPartial({ pageSize: 50 }),
        ctx.metadataFor(res, token),
        opts,
      );
      res.status(200).json({
        entries: r.entries.map((e) => ({
          time: e.accessTime?.toISOString() ?? null,
          role: e.accessorRole,
          name: e.accessorDisplayName,
          resource: e.resource.split('/')[0] ?? '',
          fields: e.fields,
          purpose: PURPOSE_NAMES[e.purpose] ?? 'other',
          outcome: OUTCOME_NAMES[e.outcome] ?? 'other',
          breakGlass: e.breakGlass,
        })),
      });
    }),
  );

  api.post(
    '/patient/media',
    patient('session.JoinMedia', async (_req, res, { token }, visitId) => {
      const r = await callUnary(
        clients.session!,
        'joinMedia',
        { visit: `visits/${visitId}` },
        ctx.metadataFor(res, token),
        opts,
      );
      res.status(200).json(mediaView(r, { patient: true }));
    }),
  );

  api.post(
    '/patient/leave',
    patient('session.LeaveVisit', async (_req, res, { token }, visitId) => {
      await callUnary(
        clients.session!,
        'leaveVisit',
        { visit: `visits/${visitId}`, requestId: '' },
        ctx.metadataFor(res, token),
        opts,
      );
      res.status(200).json({ ok: true });
    }),
  );
}

/**
 * Where the patient is: `waiting` | `admitted` | `denied` | `kicked` | `ended`, plus `left` (they left on their
 * own) and `not_joined` (not in the lobby yet).
 */
export function patientStatus(visit: session.Visit, principal: string): string {
  if (visit.state === session.VisitState.VISIT_STATE_ENDED) return 'ended';
  const me = visit.participants.find((p) => p.principal === principal);
  switch (me?.state) {
    case session.ParticipantState.PARTICIPANT_STATE_WAITING:
      return 'waiting';
    case session.ParticipantState.PARTICIPANT_STATE_ADMITTED:
      return 'admitted';
    case session.ParticipantState.PARTICIPANT_STATE_DENIED:
      return 'denied';
    case session.ParticipantState.PARTICIPANT_STATE_KICKED:
      return 'kicked';
    case session.ParticipantState.PARTICIPANT_STATE_LEFT:
      return 'left';
    default:
      return 'not_joined';
  }
}
