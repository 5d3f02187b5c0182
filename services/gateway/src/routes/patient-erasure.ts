/**
 * Erasing a patient (`POST /api/patients/:id/erase`, admins only, CSRF like every /api write): scheduling's
 * ErasePatient with a reason code and a typed confirmation (the patient id typed again, checked here too, so a
 * stray click or a replayed form with another id erases nothing). The answer says what happened; a refusal
 * because of an appointment to come or a visit in progress says which, never with PHI.
 */
import type { Router } from 'express';
import { scheduling } from '@haven/proto';
import { parseStatusDetails } from '@haven/service';
import type { ServiceError } from '@grpc/grpc-js';
import type { RouteContext } from '../context';
import { asRecord, choiceOf, invalid, pathId, send, stringField } from '../http';
import type { HttpFieldViolation } from '../http-errors';
import { staff } from './guards';
import type { PatientErasedView } from '../appointment-view';

/** The reasons the console offers → the proto enum. */
export const ERASURE_REASONS: Readonly<Record<string, scheduling.PatientErasureReason>> = {
  patient_request: scheduling.PatientErasureReason.PATIENT_ERASURE_REASON_PATIENT_REQUEST,
  registered_in_error: scheduling.PatientErasureReason.PATIENT_ERASURE_REASON_REGISTERED_IN_ERROR,
  duplicate_record: scheduling.PatientErasureReason.PATIENT_ERASURE_REASON_DUPLICATE_RECORD,
  retention_expired: scheduling.PatientErasureReason.PATIENT_ERASURE_REASON_RETENTION_EXPIRED,
  legal_order: scheduling.PatientErasureReason.PATIENT_ERASURE_REASON_LEGAL_ORDER,
};

const BLOCKED: Readonly<Record<string, string>> = {
  FUTURE_APPOINTMENT: 'The patient has an appointment to come: cancel it first, then erase.',
  VISIT_IN_PROGRESS: 'The patient has a visit in progress: end it first, then erase.',
};

function reasonName(reason: scheduling.PatientErasureReason): string {
  return Object.entries(ERASURE_REASONS).find(([, v]) => v === reason)?.[0] ?? '';
}

/** Registers POST /patients/:id/erase on the /api router. */
export function registerPatientErasureRoutes(api: Router, ctx: RouteContext): void {
  api.post(
    '/patients/:id/erase',
    staff(
      ctx,
      { rpc: 'scheduling.ErasePatient', roles: ['admin'], fields: { reason: 'reason', name: 'id' } },
      async (req, res, { token }) => {
        const id = pathId(req, res);
        if (!id) return;
        const body = asRecord(req.body);
        const violations: HttpFieldViolation[] = [];
        const reason = stringField(body, 'reason', 40, violations) ?? '';
        const confirm = (stringField(body, 'confirm', 80, violations) ?? '').trim();
        const code = choiceOf(ERASURE_REASONS, reason);
        if (code === undefined) {
          violations.push({
            field: 'reason',
            description: `is required, one of ${Object.keys(ERASURE_REASONS).join(', ')}`,
          });
        }
        if (confirm !== id) {
          violations.push({ field: 'confirm', description: 'must be the patient id, typed again' });
        }
        if (invalid(res, violations) || code === undefined) return;
        let r: scheduling.ErasePatientResponse;
        try {
          r = await ctx.call(
            res,
            token,
            ctx.clients.scheduling,
            'erasePatient',
            scheduling.ErasePatientRequest.fromPartial({ name: `patients/${id}`, reason: code }),
          );
        } catch (err) {
          const blocked = BLOCKED[parseStatusDetails(err as ServiceError).reason ?? ''];
          if (!blocked) throw err;
          const blocker = parseStatusDetails(err as ServiceError).reason ?? '';
          send(res, { status: 409, body: { error: { code: blocker, message: blocked } } });
          return;
        }
        const erased: PatientErasedView = {
          patient: {
            id,
            erased: true,
            erasedAt: r.eraseTime?.toISOString() ?? null,
            reason: reasonName(r.reason),
          },
        };
        res.status(200).json(erased);
      },
    ),
  );
}
