/**
 * The clinician's visits (`/api/visits`, clinicians only: everyone else gets 403 before any call): the day's
 * visits with their appointments, one visit's participants, the lobby and room controls, and joining or leaving
 * the media room. The session service checks that the visit is the clinician's own.
 */
import type { Request, Response, Router } from 'express';
import { phiEvents, scheduling, session } from '@haven/proto';
import type { BoundUnaryCall } from '@haven/service';
import type { Authenticated, RouteContext } from '../context';
import { PATH_ID, asRecord, choiceOf, invalid, lastSegment, pathId, send, stringField } from '../http';
import { httpError } from '../http-errors';
import type { HttpFieldViolation } from '../http-errors';
import { mediaView, recordingView, visitCounts, visitView } from '../visit-view';
import type {
  GuestLinkView,
  IdentityCheckView,
  IdentityConfirmationView,
  IdentityConfirmedView,
  InvitedGuestView,
  VisitDetailView,
  VisitReadView,
  VisitSummaryListView,
  VisitSummaryView,
} from '../staff-visit-view';
import { ACKNOWLEDGE_RECORDING, LEAVE_VISIT, RECORD_CONSENT } from './patient-visit';
import type { FieldNames, StaffHandler } from './guards';
import { staff } from './guards';
import { oneCall } from './one-call';
import type { RecordingCancelView, RecordingStartView, RecordingStopView } from '../recording-view';
import type { CallInput } from './one-call';

type ParticipantRpc = 'admitParticipant' | 'denyParticipant' | 'kickParticipant';
type VisitRpc = 'lockVisit' | 'unlockVisit' | 'endVisit';

/**
 * A visit route's handler: the `:id` in the path, the caller, and `call` for a session RPC as the caller (see
 * `RouteContext.call`).
 */
type VisitHandler = (
  req: Request,
  res: Response,
  visit: {
    readonly id: string;
    readonly auth: Authenticated;
    readonly call: BoundUnaryCall<session.SessionServiceClient>;
  },
) => Promise<void>;

/** The clinician-only doors of the visit routes. */
export function visitDoors(ctx: RouteContext) {
  const clinician = (rpc: string, handler: StaffHandler, fields?: FieldNames) =>
    staff(ctx, { rpc, roles: ['clinician'], ...(fields ? { fields } : {}) }, handler);
  const sessionClient = (res: Response): session.SessionServiceClient | undefined => {
    if (!ctx.clients.session) send(res, httpError('UNAVAILABLE'));
    return ctx.clients.session;
  };
  /** A clinician route on one visit: the path id checked (404) and the session client present (503). */
  const onVisit = (rpc: string, handler: VisitHandler, fields?: FieldNames) =>
    clinician(
      rpc,
      async (req, res, auth) => {
        const id = pathId(req, res);
        const client = id && sessionClient(res);
        if (!id || !client) return;
        const call: BoundUnaryCall<session.SessionServiceClient> = (method, request) =>
          ctx.call(res, auth.token, client, method, request);
        await handler(req, res, { id, auth, call });
      },
      fields,
    );
  return { clinician, sessionClient, onVisit };
}

type VisitDoors = ReturnType<typeof visitDoors>;

/** Registers the clinician's /visits routes on the /api router. */
export function registerVisitRoutes(api: Router, ctx: RouteContext): void {
  const doors = visitDoors(ctx);
  const { clinician, sessionClient, onVisit } = doors;

  api.get(
    '/visits',
    clinician('session.ListVisits', async (_req, res, auth) => {
      const client = sessionClient(res);
      if (!client) return;
      res
        .status(200)
        .json({ visits: await clinicianVisits(ctx, res, client, auth) } satisfies VisitSummaryListView);
    }),
  );

  api.get(
    '/visits/:id',
    onVisit('session.GetVisit', async (_req, res, { id, call }) => {
      const r = await call('getVisit', { name: `visits/${id}` });
      if (!r.visit) {
        send(res, httpError('NOT_FOUND'));
        return;
      }
      const view = visitView(r.visit, ctx.media);
      const visit: VisitDetailView = {
        id: view.id,
        status: view.status,
        locked: view.locked,
        participants: view.participants,
        hosts: r.visit.hosts.map(lastSegment),
        guests: invitedGuestsView(r.visit),
        identity: identityView(r.visit),
        recording: recordingView(r.visit),
      };
      res.status(200).json({ visit } satisfies VisitReadView);
    }),
  );

  registerVisitControls(api, ctx, doors);
  registerGuestControls(api, ctx, doors);
  registerIdentityCheck(api, ctx, doors);
  registerRecordingControls(api, ctx, doors);

  api.post(
    '/visits/:id/media',
    onVisit('session.JoinMedia', async (_req, res, { id, call }) => {
      const r = await call('joinMedia', { visit: `visits/${id}` });
      res.status(200).json(mediaView(r));
    }),
  );

  api.post('/visits/:id/leave', clinician('session.LeaveVisit', oneCall(ctx, LEAVE_VISIT)));
}

/** Registers the lobby and room controls: admit, deny, kick a participant; lock, unlock, end the visit. */
function registerVisitControls(api: Router, ctx: RouteContext, { onVisit }: VisitDoors): void {
  const participantAction = (path: string, rpc: ParticipantRpc) =>
    api.post(
      `/visits/:id/${path}`,
      onVisit(
        `session.${rpc}`,
        async (req, res, { id, call }) => {
          const violations: HttpFieldViolation[] = [];
          const participantId = stringField(asRecord(req.body), 'participantId', 64, violations) ?? '';
          if (!PATH_ID.test(participantId))
            violations.push({ field: 'participantId', description: 'must name a participant' });
          if (invalid(res, violations)) return;
          const request = {
            name: `visits/${id}/participants/${participantId}`,
            allowRejoin: false,
            requestId: '',
          };
          await call(rpc, request);
          res.status(200).json({ ok: true });
        },
        { name: 'participantId' },
      ),
    );
  participantAction('admit', 'admitParticipant');
  participantAction('deny', 'denyParticipant');
  participantAction('kick', 'kickParticipant');

  const visitAction = (path: string, rpc: VisitRpc) =>
    api.post(
      `/visits/:id/${path}`,
      onVisit(`session.${rpc}`, async (_req, res, { id, call }) => {
        const r = await call(rpc, { name: `visits/${id}`, requestId: '' });
        const view = r.visit ? visitView(r.visit, ctx.media) : undefined;
        res
          .status(200)
          .json(view ? { visit: { id: view.id, status: view.status, locked: view.locked } } : {});
      }),
    );
  visitAction('lock', 'lockVisit');
  visitAction('unlock', 'unlockVisit');
  visitAction('end', 'endVisit');
}

const GUEST_ROLES: Readonly<Record<string, session.ParticipantRole>> = {
  clinician: session.ParticipantRole.PARTICIPANT_ROLE_CLINICIAN,
  interpreter: session.ParticipantRole.PARTICIPANT_ROLE_INTERPRETER,
  family: session.ParticipantRole.PARTICIPANT_ROLE_FAMILY,
};

/** The roles a guest without an account may have (a second clinician uses their own staff account). */
const LINK_GUEST_ROLES: Readonly<Record<string, session.ParticipantRole>> = {
  interpreter: session.ParticipantRole.PARTICIPANT_ROLE_INTERPRETER,
  family: session.ParticipantRole.PARTICIPANT_ROLE_FAMILY,
};

const ROLE_NAMES: Readonly<Partial<Record<session.ParticipantRole, string>>> = {
  [session.ParticipantRole.PARTICIPANT_ROLE_CLINICIAN]: 'clinician',
  [session.ParticipantRole.PARTICIPANT_ROLE_INTERPRETER]: 'interpreter',
  [session.ParticipantRole.PARTICIPANT_ROLE_FAMILY]: 'family',
};

/** The guests invited and not revoked: id, whether they joined by link, role. No names. */
function invitedGuestsView(v: session.Visit): InvitedGuestView[] {
  return v.guests.map((g) => ({
    id: lastSegment(g.principal),
    link: g.principal.startsWith('guests/'),
    role: ROLE_NAMES[g.role] ?? 'guest',
  }));
}

/** The patient's identity confirmation (who confirmed, when, how), or null. */
function identityView(v: session.Visit): IdentityConfirmationView | null {
  const c = v.identityConfirmation;
  if (!c) return null;
  return {
    confirmedBy: lastSegment(c.confirmedBy),
    confirmTime: c.confirmTime?.toISOString() ?? null,
    method: 'date_of_birth',
  };
}

const GRANT_MODES: Readonly<Record<string, session.HostGrantMode>> = {
  share: session.HostGrantMode.HOST_GRANT_MODE_SHARE,
  handover: session.HostGrantMode.HOST_GRANT_MODE_HANDOVER,
};

/**
 * Reads a body naming one resource id and one choice among `choices` (the guest and host routes): a field
 * violation for either when it is wrong (the choice is then undefined).
 */
function idAndChoice<T>(
  { body, violations }: CallInput,
  [idField, idDescription]: readonly [string, string],
  choice: {
    readonly field: string;
    readonly choices: Readonly<Record<string, T>>;
    readonly description: string;
  },
): { id: string; choice: T | undefined } {
  const id = stringField(body, idField, 64, violations) ?? '';
  const key = stringField(body, choice.field, 16, violations) ?? '';
  if (!PATH_ID.test(id)) violations.push({ field: idField, description: idDescription });
  const picked = choiceOf(choice.choices, key);
  if (picked === undefined) violations.push({ field: choice.field, description: choice.description });
  return { id, choice: picked };
}

/** The visit's hosts after a guest or host change. */
const hostsView = (r: { visit?: session.Visit | undefined }) => ({
  hosts: (r.visit?.hosts ?? []).map(lastSegment),
});

/**
 * Guests and host rights: a host invites a staff user as a guest (`POST /visits/:id/guests`) or a guest without an
 * account by a one-time link (`POST /visits/:id/guest-links`), revokes a guest (`POST
 * /visits/:id/guests/:guestId/revoke`), the invited clinician waits in the lobby (`POST /visits/:id/lobby`), a
 * host shares or hands over host rights (`POST /visits/:id/host`). The session service checks who is a host.
 */
function registerGuestControls(api: Router, ctx: RouteContext, { clinician, onVisit }: VisitDoors): void {
  api.post(
    '/visits/:id/guests',
    clinician(
      'session.InviteGuest',
      oneCall(ctx, {
        client: 'session',
        method: 'inviteGuest',
        request: (input) => {
          const picked = idAndChoice(input, ['userId', 'must name a staff user'], {
            field: 'role',
            choices: GUEST_ROLES,
            description: 'must be clinician, interpreter or family',
          });
          return session.InviteGuestRequest.fromPartial({
            visit: `visits/${input.id}`,
            user: `users/${picked.id}`,
            ...(picked.choice === undefined ? {} : { role: picked.choice }),
          });
        },
        view: hostsView,
      }),
      { user: 'userId', role: 'role' },
    ),
  );
  // A guest without an account: session names and invites them, then scheduling issues their one-time link (the
  // link and the guest's own passcode are shown to the host once, to copy or read out).
  api.post(
    '/visits/:id/guest-links',
    onVisit(
      'scheduling.IssueGuestLink',
      async (req, res, { id, auth, call }) => {
        const role = stringField(asRecord(req.body), 'role', 16, []) ?? '';
        const picked = choiceOf(LINK_GUEST_ROLES, role);
        if (picked === undefined) {
          invalid(res, [{ field: 'role', description: 'must be interpreter or family' }]);
          return;
        }
        if (!ctx.clients.scheduling) {
          send(res, httpError('UNAVAILABLE'));
          return;
        }
        const invited = await call('inviteGuest', { visit: `visits/${id}`, user: '', role: picked });
        const link = await ctx.call(res, auth.token, ctx.clients.scheduling, 'issueGuestLink', {
          visit: `visits/${id}`,
          guest: invited.guest,
        });
        const issued: GuestLinkView = {
          guestId: lastSegment(link.guest),
          role,
          url: link.url,
          passcode: link.passcode,
          expireTime: link.expireTime?.toISOString() ?? null,
        };
        res.status(200).json(issued);
      },
      { role: 'role' },
    ),
  );
  // Revoking a guest: their link dies; in the lobby or the visit, they are removed for good at once.
  api.post(
    '/visits/:id/guests/:guestId/revoke',
    onVisit('session.RevokeGuest', async (req, res, { id, call }) => {
      const guestId = String(req.params['guestId'] ?? '');
      if (!PATH_ID.test(guestId)) {
        send(res, httpError('NOT_FOUND'));
        return;
      }
      // A link guest's id is the service's `g` + 32 hex; anything else names a staff user.
      const guest = /^g[0-9a-f]{32}$/.test(guestId) ? `guests/${guestId}` : `users/${guestId}`;
      const r = await call('revokeGuest', { visit: `visits/${id}`, guest });
      res.status(200).json({ guests: r.visit ? invitedGuestsView(r.visit) : [] });
    }),
  );
  api.post(
    '/visits/:id/lobby',
    onVisit('session.JoinLobby', async (_req, res, { id, call }) => {
      const request = session.JoinLobbyRequest.fromPartial({ appointment: `appointments/${id}` });
      const r = await call('joinLobby', request);
      res.status(200).json({ status: 'waiting', participantId: lastSegment(r.participant?.name ?? '') });
    }),
  );
  api.post(
    '/visits/:id/host',
    clinician(
      'session.GrantHost',
      oneCall(ctx, {
        client: 'session',
        method: 'grantHost',
        request: (input) => {
          const picked = idAndChoice(input, ['participantId', 'must name a participant'], {
            field: 'mode',
            choices: GRANT_MODES,
            description: 'must be share or handover',
          });
          return session.GrantHostRequest.fromPartial({
            name: `visits/${input.id}/participants/${picked.id}`,
            ...(picked.choice === undefined ? {} : { mode: picked.choice }),
          });
        },
        view: hostsView,
      }),
      { name: 'participantId', mode: 'mode' },
    ),
  );
}

/**
 * The identity check: a host reads the patient's date of birth for a verbal check (`GET
 * /visits/:id/identity-check`: scheduling records it as PhiAccessed for treatment, the date of birth alone), then
 * records that the patient's identity is confirmed (`POST /visits/:id/identity`: IdentityConfirmed, no date of
 * birth in it).
 */
function registerIdentityCheck(api: Router, ctx: RouteContext, { onVisit }: VisitDoors): void {
  api.get(
    '/visits/:id/identity-check',
    onVisit('scheduling.GetPatient', async (_req, res, { id, auth, call }) => {
      const { visit } = await call('getVisit', { name: `visits/${id}` });
      // Only a host checks identity (a staff guest may see the visit, not the patient's record).
      if (!visit || !visit.hosts.includes(`users/${auth.principal.id}`)) {
        send(res, httpError('PERMISSION_DENIED'));
        return;
      }
      const r = await ctx.call(
        res,
        auth.token,
        ctx.clients.scheduling,
        'getPatient',
        scheduling.GetPatientRequest.fromPartial({
          name: visit.patient,
          purpose: phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_TREATMENT,
          readMask: ['date_of_birth'],
        }),
      );
      const check: IdentityCheckView = {
        dateOfBirth: r.patient?.dateOfBirth ?? '',
        identity: identityView(visit),
      };
      res.status(200).json(check);
    }),
  );
  api.post(
    '/visits/:id/identity',
    onVisit('session.ConfirmIdentity', async (_req, res, { id, call }) => {
      const r = await call('confirmIdentity', {
        visit: `visits/${id}`,
        method: session.IdentityMethod.IDENTITY_METHOD_DATE_OF_BIRTH,
      });
      const confirmed: IdentityConfirmedView = { identity: r.visit ? identityView(r.visit) : null };
      res.status(200).json(confirmed);
    }),
  );
}

/**
 * The clinician's recording controls: start (a request until everyone present has consented), cancel a pending
 * request, stop, their own consent, and the acknowledgement of the notice.
 */
function registerRecordingControls(api: Router, ctx: RouteContext, { clinician, onVisit }: VisitDoors): void {
  api.post(
    '/visits/:id/recording/start',
    onVisit('session.StartRecording', async (_req, res, { id, call }) => {
      const r = await call('startRecording', { visit: `visits/${id}` });
      const started: RecordingStartView = {
        state: r.pending ? 'requested' : 'on',
        recordingId: r.recording ? lastSegment(r.recording) : null,
        awaitingConsent: r.awaitingConsent.map(lastSegment),
      };
      res.status(200).json(started);
    }),
  );
  api.post(
    '/visits/:id/recording/cancel',
    onVisit('session.CancelRecording', async (_req, res, { id, call }) => {
      await call('cancelRecording', { visit: `visits/${id}` });
      const cancelled: RecordingCancelView = { state: 'off' };
      res.status(200).json(cancelled);
    }),
  );
  api.post(
    '/visits/:id/recording/stop',
    onVisit('session.StopRecording', async (_req, res, { id, call }) => {
      const r = await call('stopRecording', { visit: `visits/${id}` });
      const stopped: RecordingStopView = {
        state: 'off',
        recordingId: r.recording ? lastSegment(r.recording) : null,
      };
      res.status(200).json(stopped);
    }),
  );
  api.post(
    '/visits/:id/recording/consent',
    clinician('session.RecordConsent', oneCall(ctx, RECORD_CONSENT), { granted: 'granted' }),
  );
  api.post(
    '/visits/:id/recording/ack',
    clinician('session.AcknowledgeRecordingNotice', oneCall(ctx, ACKNOWLEDGE_RECORDING)),
  );
}

/** The clinician's visits, each with its appointment's times, earliest first. */
async function clinicianVisits(
  ctx: RouteContext,
  res: Response,
  client: session.SessionServiceClient,
  { token, principal }: Authenticated,
): Promise<VisitSummaryView[]> {
  const clinician = `users/${principal.id}`;
  const [visits, appointments] = await Promise.all([
    ctx.call(
      res,
      token,
      client,
      'listVisits',
      session.ListVisitsRequest.fromPartial({ pageSize: 100, clinician }),
    ),
    ctx
      .call(
        res,
        token,
        ctx.clients.scheduling,
        'listAppointments',
        scheduling.ListAppointmentsRequest.fromPartial({ pageSize: 200, clinician }),
      )
      .catch(() => ({ appointments: [] as scheduling.Appointment[] })),
  ]);
  const byId = new Map(appointments.appointments.map((a) => [lastSegment(a.name), a]));
  const list = visits.visits.map((v): VisitSummaryView => {
    const view = visitView(v, ctx.media);
    const a = byId.get(view.appointmentId);
    return {
      id: view.id,
      appointmentId: view.appointmentId,
      patientId: view.patientId,
      startTime: a?.startTime?.toISOString() ?? null,
      endTime: a?.endTime?.toISOString() ?? null,
      status: view.status,
      locked: view.locked,
      ...visitCounts(view),
    };
  });
  list.sort((x, y) => String(x.startTime).localeCompare(String(y.startTime)));
  return list;
}
