/**
 * The break-glass use case: a clinician or admin gets time-boxed emergency access to one patient. The grant and
 * its alert are stored (idempotent with a request key: a retry gets the same grant and raises no second alert),
 * then a token scoped to that patient is issued.
 */
import { newEventId, type NewEvent, type RequestRecord } from '@haven/eventstore';
import { ConcurrencyError, PermissionError } from '@haven/errors';
import {
  BREAK_GLASS_SCOPE,
  idempotentResourceId,
  RequestIdReusedError,
  requestRecord,
  type IdempotencyKey,
} from '@haven/service';
import type { IdentityDeps } from '../shared/deps';
import { identityEvent, type CommandContext } from '../shared/streams';
import { issueAccessToken } from '../tokens/tokens';
import { Role } from '../user/user';
import {
  alertStream,
  breakGlassStream,
  type BreakGlassAlertRaised,
  type BreakGlassGranted,
} from './break-glass';
import { decideBreakGlass } from './decide';

/** A break-glass request of the caller (in session `sessionId`). */
export interface BreakGlassRequest {
  readonly userId: string;
  readonly role: string;
  readonly sessionId: string;
  readonly patient: string;
  readonly reason: string;
  readonly durationMs: number;
  /** The client's idempotency key: a retry gets the same grant (and no second alert). */
  readonly requestKey?: IdempotencyKey;
}

/** Builds a stored event of this request (its envelope, and the request record when it has a key). */
type EventOf = (event: {
  type: string;
  data: Record<string, unknown>;
}) => NewEvent<string, Record<string, unknown>>;

/** The break-glass use case. */
export class BreakGlassService {
  constructor(private readonly deps: IdentityDeps) {}

  /**
   * Grants the caller (clinician or admin, in session `sessionId`) time-boxed emergency access to one patient:
   * BreakGlassGranted in `identity.breakglass-<grantId>`, BreakGlassAlertRaised in `identity.alert-<alertId>`,
   * and an access token with scope `breakglass` and claims `bg` (grant id) and `bg_res` (the patient), valid
   * until the grant ends (60 min default and maximum). Throws ValidationError on a short reason or bad patient
   * name, PermissionError for other roles.
   */
  async requestBreakGlass(
    ctx: CommandContext,
    input: BreakGlassRequest,
  ): Promise<{ accessToken: string; expiresAt: number; grantId: string }> {
    if (input.role !== Role.Clinician && input.role !== Role.Admin)
      throw new PermissionError('only clinicians and admins may break glass');
    const now = this.deps.now();
    const key = input.requestKey;
    const request = key
      ? requestRecord(key, { patient: input.patient, reason: input.reason, durationMs: input.durationMs })
      : undefined;
    const grantId = key ? idempotentResourceId(key, 'breakglass-grant') : newEventId();
    const [decidedGrant, decidedAlert] = decideBreakGlass({
      grantId,
      alertId: key ? idempotentResourceId(key, 'breakglass-alert') : newEventId(),
      userId: input.userId,
      role: input.role,
      sessionId: input.sessionId,
      resource: input.patient,
      reason: input.reason,
      durationMs: input.durationMs,
      now,
    });
    const eventOf: EventOf = ({ type, data }) => ({
      ...identityEvent(type, data, ctx),
      ...(request ? { request } : {}),
    });
    const { granted, earlier } = await this.storeGrant(decidedGrant, request, eventOf);
    const alert: BreakGlassAlertRaised = earlier
      ? {
          ...decidedAlert,
          data: { ...decidedAlert.data, expiresAt: granted.data.expiresAt, at: granted.data.at },
        }
      : decidedAlert;
    await this.raiseAlert(alert, { retry: earlier, request, eventOf });
    const expiresAt = Date.parse(granted.data.expiresAt);
    const access = await issueAccessToken(
      this.deps.keys,
      {
        sub: input.userId,
        role: input.role,
        kind: 'user',
        sid: input.sessionId,
        scope: BREAK_GLASS_SCOPE,
        breakGlass: { grantId, resource: input.patient },
      },
      { now, expiresAt },
    );
    if (!earlier) this.deps.logger?.warn({ grantId, userId: input.userId }, 'break-glass granted');
    return { accessToken: access.token, expiresAt: access.expiresAt, grantId };
  }

  /**
   * Stores the grant, or finds the one a retry of this request stored (`earlier`). Throws RequestIdReusedError when
   * the key was used for another request, ConcurrencyError when the grant id is taken otherwise.
   */
  private async storeGrant(
    decided: BreakGlassGranted,
    request: RequestRecord | undefined,
    eventOf: EventOf,
  ): Promise<{ granted: BreakGlassGranted; earlier: boolean }> {
    const stream = breakGlassStream(decided.data.grantId);
    /** The grant a retry of this request already stored, when there is one. Throws RequestIdReusedError. */
    const stored = async (): Promise<BreakGlassGranted | undefined> => {
      if (!request) return undefined;
      const [first] = await this.deps.store.read(stream, { limit: 1 });
      if (!first) return undefined;
      if (first.request?.id !== request.id || first.request.fingerprint !== request.fingerprint) {
        throw new RequestIdReusedError();
      }
      return { type: 'BreakGlassGranted', data: first.data as BreakGlassGranted['data'] };
    };
    const earlier = await stored();
    if (earlier) return { granted: earlier, earlier: true };
    try {
      await this.deps.store.append(stream, 'no_stream', [eventOf(decided)]);
      return { granted: decided, earlier: false };
    } catch (error) {
      // A concurrent retry of the same request stored it first: answer with that grant.
      const raced = request && error instanceof ConcurrencyError ? await stored() : undefined;
      if (!raced) throw error;
      return { granted: raced, earlier: false };
    }
  }

  /** Raises the alert (again, when a retry finds the grant without it: the first attempt stopped in between). */
  private async raiseAlert(
    alert: BreakGlassAlertRaised,
    options: { retry: boolean; request: RequestRecord | undefined; eventOf: EventOf },
  ): Promise<void> {
    const stream = alertStream(alert.data.alertId);
    const alerted = options.retry ? await this.deps.store.read(stream, { limit: 1 }) : [];
    if (alerted.length > 0) return;
    await this.deps.store.append(stream, options.request ? 'any' : 'no_stream', [options.eventOf(alert)]);
  }
}
