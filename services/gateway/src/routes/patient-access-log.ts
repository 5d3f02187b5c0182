/**
 * `GET /api/patient/access-log`: the patient's own access log (audit ListMyAccessLog with the patient token):
 * who (by role) read their record, when, what, why and with what outcome.
 */
import type { Router } from 'express';
import { audit, phiEvents } from '@haven/proto';
import type { RouteContext } from '../context';
import { patient } from './guards';
import { oneCall } from './one-call';
import type { AccessLogView } from '../audit-view';

const PURPOSE_NAMES: Record<number, string> = {
  [phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_TREATMENT]: 'treatment',
  [phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_PAYMENT]: 'payment',
  [phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_OPERATIONS]: 'operations',
  [phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_PATIENT_REQUEST]: 'your request',
  [phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_EMERGENCY]: 'emergency',
  [phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_TREATMENT_COMMUNICATION]: 'sending you appointment messages',
};
const OUTCOME_NAMES: Record<number, string> = {
  [phiEvents.PhiAccessOutcome.PHI_ACCESS_OUTCOME_GRANTED]: 'granted',
  [phiEvents.PhiAccessOutcome.PHI_ACCESS_OUTCOME_DENIED]: 'denied',
  [phiEvents.PhiAccessOutcome.PHI_ACCESS_OUTCOME_FAILED]: 'failed',
};

/** Registers GET /patient/access-log on the /api router. */
export function registerPatientAccessLogRoutes(api: Router, ctx: RouteContext): void {
  api.get(
    '/patient/access-log',
    patient(
      ctx,
      'audit.ListMyAccessLog',
      oneCall(ctx, {
        client: 'audit',
        method: 'listMyAccessLog',
        request: () => audit.ListMyAccessLogRequest.fromPartial({ pageSize: 50 }),
        view: (r): AccessLogView => ({
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
        }),
      }),
    ),
  );
}
