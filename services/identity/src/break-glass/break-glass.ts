/**
 * Break-glass grants (`identity.breakglass-<grantId>`) and their alerts (`identity.alert-<alertId>`). Pure.
 *
 * Decision: the written reason is required (20–1000 characters) and stored verbatim in
 * `BreakGlassGranted.data.reason`, because the people who review a break-glass (admins, auditors) must be able
 * to read it from the audit ledger. Users are told to write it without patient identifiers; it never goes to
 * a log, a span or a metric, and the alert event carries only its length. The decision is in decide.ts.
 */

/** Default and maximum grant length. */
export const BREAK_GLASS_MAX_MS = 60 * 60_000;
export const BREAK_GLASS_MIN_REASON = 20;
export const BREAK_GLASS_MAX_REASON = 1000;

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
