/** The decision of a break-glass request: pure (the handler stores the events and issues the token). */
import { ValidationError } from '@haven/errors';
import {
  BREAK_GLASS_MAX_MS,
  BREAK_GLASS_MAX_REASON,
  BREAK_GLASS_MIN_REASON,
  type BreakGlassAlertRaised,
  type BreakGlassGranted,
} from './break-glass';

const PATIENT = /^patients\/[A-Za-z0-9_-]{1,128}$/;

/**
 * The events of a break-glass request: the grant and its alert.
 * Throws ValidationError when the resource is not `patients/{id}` or the reason is too short or too long.
 */
export function decideBreakGlass(input: {
  grantId: string;
  alertId: string;
  userId: string;
  role: string;
  sessionId: string;
  resource: string;
  reason: string;
  durationMs: number;
  now: number;
}): [BreakGlassGranted, BreakGlassAlertRaised] {
  const violations: { field: string; description: string }[] = [];
  if (!PATIENT.test(input.resource))
    violations.push({ field: 'patient', description: 'must be patients/{patient}' });
  const reason = input.reason.trim();
  if (reason.length < BREAK_GLASS_MIN_REASON || reason.length > BREAK_GLASS_MAX_REASON)
    violations.push({
      field: 'reason',
      description: `a written reason of ${BREAK_GLASS_MIN_REASON}–${BREAK_GLASS_MAX_REASON} characters is required`,
    });
  if (violations.length > 0) throw new ValidationError(violations);
  const duration = input.durationMs > 0 ? Math.min(input.durationMs, BREAK_GLASS_MAX_MS) : BREAK_GLASS_MAX_MS;
  const at = new Date(input.now).toISOString();
  const expiresAt = new Date(input.now + duration).toISOString();
  return [
    {
      type: 'BreakGlassGranted',
      data: {
        grantId: input.grantId,
        userId: input.userId,
        role: input.role,
        sessionId: input.sessionId,
        resource: input.resource,
        reason,
        expiresAt,
        at,
      },
    },
    {
      type: 'BreakGlassAlertRaised',
      data: {
        alertId: input.alertId,
        grantId: input.grantId,
        userId: input.userId,
        role: input.role,
        resource: input.resource,
        reasonLength: reason.length,
        severity: 'high',
        expiresAt,
        at,
      },
    },
  ];
}
