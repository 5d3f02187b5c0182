/**
 * Break-glass grants (`identity.breakglass-<grantId>`) and their alerts (`identity.alert-<alertId>`). Pure.
 *
 * Decision: the written reason is required (20–1000 characters) and stored verbatim in
 * `BreakGlassGranted.data.reason`, because the people who review a break-glass (admins, auditors) must be able
 * to read it from the audit ledger. Users are told to write it without patient identifiers; it never goes to
 * a log, a span or a metric, and the alert event carries only its length.
 */
import { ValidationError } from '@haven/errors';

/** Default and maximum grant length. */
export const BREAK_GLASS_MAX_MS = 60 * 60_000;
export const BREAK_GLASS_MIN_REASON = 20;
export const BREAK_GLASS_MAX_REASON = 1000;
const PATIENT = /^patients\/[A-Za-z0-9_-]{1,128}$/;

/** `identity.breakglass-<grantId>`. */
export function breakGlassStream(grantId: string): string {
  return `identity.breakglass-${grantId}`;
}
/** `identity.alert-<alertId>`. */
export function alertStream(alertId: string): string {
  return `identity.alert-${alertId}`;
}

export type BreakGlassGranted = {
  type: 'BreakGlassGranted';
  data: {
    grantId: string;
    userId: string;
    role: string;
    sessionId: string;
    resource: string;
    reason: string;
    expiresAt: string;
    at: string;
  };
};
export type BreakGlassAlertRaised = {
  type: 'BreakGlassAlertRaised';
  data: {
    alertId: string;
    grantId: string;
    userId: string;
    role: string;
    resource: string;
    reasonLength: number;
    severity: 'high';
    expiresAt: string;
    at: string;
  };
};

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
