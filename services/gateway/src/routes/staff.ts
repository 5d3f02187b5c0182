/**
 * Staff routes (cookie `haven_access`): TOTP enrollment, the clinician directory, patients, appointments,
 * patient links, and the clinician's visit controls. Every call goes to a service with the user's own token;
 * the services enforce the access policy and ownership, the gateway only refuses early what the policy refuses
 * anyway (a non-clinician on /api/visits) and validates the shape of what the browser sent.
 */
import type { Request, RequestHandler, Response, Router } from 'express';
import QRCode from 'qrcode';
import { audit, identity, phiEvents, scheduling, session } from '@haven/proto';
import { callUnary } from '@haven/service';
import { authenticate } from '../context';
import type { Authenticated, RouteContext } from '../context';
import { PATH_ID, asRecord, lastSegment, send, stringField } from '../http';
import { httpError, httpErrorFromGrpc } from '../http-errors';
import type { HttpFieldViolation } from '../http-errors';
import { noteRefusal } from '../refusals';
import { appointmentView, visitCounts, visitView } from '../visit-view';

/** The cookie of staff access tokens (set by /api/auth/login). */
const ACCESS_COOKIE = 'haven_access';

const PATIENT_FIELDS = {
  patient: 'form',
  'patient.given_name': 'name',
  'patient.family_name': 'name',
  'patient.date_of_birth': 'dateOfBirth',
  'patient.email': 'email',
  'patient.phone': 'phone',
  request_id: 'idempotencyKey',
} as const;
const LIST_FIELDS = {
  day: 'day',
  time_zone: 'timeZone',
  clinician: 'clinicianId',
  purpose: 'purpose',
} as const;
const CANCEL_REASONS: Readonly<Record<string, scheduling.CancellationReason>> = {
  patient_request: scheduling.CancellationReason.CANCELLATION_REASON_PATIENT_REQUEST,
  clinician_unavailable: scheduling.CancellationReason.CANCELLATION_REASON_CLINICIAN_UNAVAILABLE,
  booked_in_error: scheduling.CancellationReason.CANCELLATION_REASON_BOOKED_IN_ERROR,
  other: scheduling.CancellationReason.CANCELLATION_REASON_OTHER,
};
const PURPOSES: Readonly<Record<string, phiEvents.PhiAccessPurpose>> = {
  treatment: phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_TREATMENT,
  payment: phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_PAYMENT,
  operations: phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_OPERATIONS,
};
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const TIME_ZONE = /^[A-Za-z0-9_+\-/]{1,64}$/;
const IDEMPOTENCY_KEY = /^[0-9a-fA-F-]{36}$/;
/** How long before the start a patient link opens (scheduling's LinkPolicy.opensBeforeStartMinutes). */
const LINK_OPENS_BEFORE_START_MS = 15 * 60_000;

type Handler = (req: Request, res: Response, auth: Authenticated) => Promise<void>;

/** Splits "Given Names Family" at the last space (a single word is the family name). */
function splitName(full: string): { givenName: string; familyName: string } {
  const trimmed = full.trim().replace(/\s+/g, ' ');
  const i = trimmed.lastIndexOf(' ');
  return i < 0
    ? { givenName: '', familyName: trimmed }
    : { givenName: trimmed.slice(0, i), familyName: trimmed.slice(i + 1) };
}

/** Registers the staff routes on the /api router. */
export function registerStaffRoutes(api: Router, ctx: RouteContext): void {
  const { clients, deadlineMs } = ctx;
  const opts = { deadlineMs };

  /** A route that needs a signed-in staff user; `roles` (when given) are checked before any backend call. */
  const staff =
    (
      rpc: string,
      fields: Readonly<Record<string, string>>,
      handler: Handler,
      roles?: readonly string[],
    ): RequestHandler =>
    async (req, res) => {
      const auth = await authenticate(ctx, req, res, ACCESS_COOKIE);
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
        ctx.logCallFailure(res, rpc, err);
        send(res, httpErrorFromGrpc(err, fields));
      }
    };

  const invalid = (res: Response, violations: HttpFieldViolation[]): boolean => {
    if (violations.length === 0) return false;
    send(res, httpError('INVALID_ARGUMENT', violations));
    return true;
  };

  /** The declared purpose of a PHI read (`?purpose=`, default treatment); answers 400 and undefined when unknown. */
  const purposeOf = (req: Request, res: Response): (typeof PURPOSES)[string] | undefined => {
    const name = typeof req.query['purpose'] === 'string' ? req.query['purpose'] : 'treatment';
    const purpose = PURPOSES[name];
    if (purpose === undefined)
      invalid(res, [{ field: 'purpose', description: 'must be treatment, payment or operations' }]);
    return purpose;
  };

  /** The :id path parameter, or a 404 when it cannot be an id. */
  const pathId = (req: Request, res: Response): string | undefined => {
    const id = req.params['id'];
    if (typeof id !== 'string' || !PATH_ID.test(id)) {
      send(res, httpError('NOT_FOUND'));
      return undefined;
    }
    return id;
  };

  // ---- TOTP enrollment (the role-less enrollment token from Login is accepted by identity for these two)

  api.post(
    '/auth/totp/enroll',
    staff('identity.EnrollTotp', {}, async (_req, res, { token }) => {
      const r = await callUnary(clients.identity, 'enrollTotp', {}, ctx.metadataFor(res, token), opts);
      const svg = await QRCode.toString(r.otpauthUri, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' });
      res.status(200).json({
        secret: r.secret,
        otpauthUri: r.otpauthUri,
        qr: `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`,
      });
    }),
  );

  api.post(
    '/auth/totp/confirm',
    staff('identity.ConfirmTotp', { code: 'code' }, async (req, res, { token }) => {
      const violations: HttpFieldViolation[] = [];
      const code = stringField(asRecord(req.body), 'code', 16, violations)?.trim() ?? '';
      if (code === '') violations.push({ field: 'code', description: 'is required' });
      if (invalid(res, violations)) return;
      const r = await callUnary(clients.identity, 'confirmTotp', { code }, ctx.metadataFor(res, token), opts);
      res.status(200).json({ recoveryCodes: r.recoveryCodes });
    }),
  );

  // ---- directory, patients, appointments (front desk, clinicians, admins; the services check ownership)

  api.get(
    '/clinicians',
    staff('identity.ListUsers', {}, async (_req, res, { token }) => {
      const r = await callUnary(
        clients.identity,
        'listUsers',
        identity.ListUsersRequest.fromPartial({ role: identity.Role.ROLE_CLINICIAN, pageSize: 100 }),
        ctx.metadataFor(res, token),
        opts,
      );
      res.status(200).json({
        clinicians: r.users
          .filter((u) => u.role === identity.Role.ROLE_CLINICIAN)
          .map((u) => ({ id: lastSegment(u.name), displayName: u.displayName || u.username })),
      });
    }),
  );

  api.post(
    '/patients',
    staff('scheduling.CreatePatient', PATIENT_FIELDS, async (req, res, { token }) => {
      const body = asRecord(req.body);
      const violations: HttpFieldViolation[] = [];
      const name = stringField(body, 'name', 200, violations) ?? '';
      const dateOfBirth = stringField(body, 'dateOfBirth', 10, violations) ?? '';
      const email = stringField(body, 'email', 254, violations) ?? '';
      const phone = stringField(body, 'phone', 32, violations) ?? '';
      const idempotencyKey = req.get('idempotency-key');
      if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey))
        violations.push({ field: 'idempotencyKey', description: 'must be a UUID' });
      const { givenName, familyName } = splitName(name);
      if (name.trim() === '') violations.push({ field: 'name', description: 'is required' });
      else if (givenName === '')
        violations.push({ field: 'name', description: 'needs a given and a family name' });
      if (invalid(res, violations)) return;
      const r = await callUnary(
        clients.scheduling,
        'createPatient',
        scheduling.CreatePatientRequest.fromPartial({
          patient: {
            givenName,
            familyName,
            dateOfBirth: dateOfBirth.trim(),
            email: email.trim(),
            phone: phone.replace(/[\s()-]/g, ''),
          },
          requestId: idempotencyKey ?? '',
        }),
        ctx.metadataFor(res, token),
        opts,
      );
      res.status(201).json({ patient: { id: lastSegment(r.patient?.name ?? '') } });
    }),
  );

  api.get(
    '/patients',
    staff('scheduling.ListPatients', LIST_FIELDS, async (req, res, { token }) => {
      const purpose = purposeOf(req, res);
      if (purpose === undefined) return;
      const r = await callUnary(
        clients.scheduling,
        'listPatients',
        scheduling.ListPatientsRequest.fromPartial({ pageSize: 100, purpose }),
        ctx.metadataFor(res, token),
        opts,
      );
      res.status(200).json({
        patients: r.patients.map((p) => ({
          id: lastSegment(p.name),
          name: `${p.givenName} ${p.familyName}`.trim(),
          dateOfBirth: p.dateOfBirth,
        })),
      });
    }),
  );

  // One patient's name, for the clinician console: a PHI read for the declared purpose (default treatment),
  // recorded by scheduling as PhiAccessed naming only the two name fields (the read mask): minimum necessary.
  api.get(
    '/patients/:id',
    staff('scheduling.GetPatient', LIST_FIELDS, async (req, res, { token }) => {
      const id = pathId(req, res);
      if (!id) return;
      const purpose = purposeOf(req, res);
      if (purpose === undefined) return;
      const r = await callUnary(
        clients.scheduling,
        'getPatient',
        scheduling.GetPatientRequest.fromPartial({
          name: `patients/${id}`,
          purpose,
          readMask: ['given_name', 'family_name'],
        }),
        ctx.metadataFor(res, token),
        opts,
      );
      const p = r.patient;
      res.status(200).json({ patient: { id, name: `${p?.givenName ?? ''} ${p?.familyName ?? ''}`.trim() } });
    }),
  );

  api.get(
    '/appointments',
    staff('scheduling.ListAppointments', LIST_FIELDS, async (req, res, { token }) => {
      const violations: HttpFieldViolation[] = [];
      const q = (name: string): string =>
        typeof req.query[name] === 'string' ? String(req.query[name]) : '';
      const day = q('day');
      const timeZone = q('timeZone');
      const clinicianId = q('clinicianId');
      if (day !== '' && !DAY.test(day)) violations.push({ field: 'day', description: 'must be YYYY-MM-DD' });
      if (timeZone !== '' && !TIME_ZONE.test(timeZone))
        violations.push({ field: 'timeZone', description: 'must be an IANA time zone' });
      if (clinicianId !== '' && !PATH_ID.test(clinicianId))
        violations.push({ field: 'clinicianId', description: 'must be a user id' });
      if (invalid(res, violations)) return;
      const r = await callUnary(
        clients.scheduling,
        'listAppointments',
        scheduling.ListAppointmentsRequest.fromPartial({
          pageSize: 200,
          day,
          timeZone,
          clinician: clinicianId === '' ? '' : `users/${clinicianId}`,
        }),
        ctx.metadataFor(res, token),
        opts,
      );
      res.status(200).json({ appointments: r.appointments.map(appointmentView) });
    }),
  );

  api.post(
    '/appointments/:id/link',
    staff('scheduling.IssuePatientLink', { appointment: 'id' }, async (req, res, { token }) => {
      const id = pathId(req, res);
      if (!id) return;
      const md = ctx.metadataFor(res, token);
      const r = await callUnary(
        clients.scheduling,
        'issuePatientLink',
        scheduling.IssuePatientLinkRequest.fromPartial({ appointment: `appointments/${id}` }),
        md,
        opts,
      );
      const got = await callUnary(
        clients.scheduling,
        'getAppointment',
        scheduling.GetAppointmentRequest.fromPartial({ name: `appointments/${id}` }),
        ctx.metadataFor(res, token),
        opts,
      ).catch(() => undefined);
      const start = got?.appointment?.startTime;
      res.status(201).json({
        url: r.url,
        passcode: r.passcode,
        validFrom: start ? new Date(start.getTime() - LINK_OPENS_BEFORE_START_MS).toISOString() : null,
        validUntil: r.patientLink?.expireTime?.toISOString() ?? null,
        dateOfBirthRequired: r.patientLink?.dateOfBirthRequired ?? false,
      });
    }),
  );

  api.post(
    '/appointments/:id/cancel',
    staff('scheduling.CancelAppointment', { reason: 'reason' }, async (req, res, { token }) => {
      const id = pathId(req, res);
      if (!id) return;
      const violations: HttpFieldViolation[] = [];
      const reasonName = stringField(asRecord(req.body), 'reason', 40, violations) ?? 'other';
      const reason = CANCEL_REASONS[reasonName];
      if (reason === undefined) {
        invalid(res, [
          { field: 'reason', description: `must be one of ${Object.keys(CANCEL_REASONS).join(', ')}` },
        ]);
        return;
      }
      if (invalid(res, violations)) return;
      const r = await callUnary(
        clients.scheduling,
        'cancelAppointment',
        scheduling.CancelAppointmentRequest.fromPartial({ name: `appointments/${id}`, reason }),
        ctx.metadataFor(res, token),
        opts,
      );
      res.status(200).json({ appointment: r.appointment ? appointmentView(r.appointment) : null });
    }),
  );

  // ---- the audit ledger (admins and auditors; every query is itself recorded by the audit service)

  const auditClient = (res: Response): audit.AuditServiceClient | undefined => {
    if (!clients.audit) send(res, httpError('UNAVAILABLE'));
    return clients.audit;
  };

  api.get(
    '/audit/head',
    staff(
      'audit.GetTreeHead',
      {},
      async (_req, res, { token }) => {
        const client = auditClient(res);
        if (!client) return;
        const r = await callUnary(
          client,
          'getTreeHead',
          audit.GetTreeHeadRequest.fromPartial({ treeSize: '0' }),
          ctx.metadataFor(res, token),
          opts,
        );
        const head = r.treeHead;
        res.status(200).json({
          treeSize: Number(head?.treeSize ?? 0),
          rootHash: Buffer.from(head?.rootHash ?? []).toString('hex'),
          signedAt: head?.timestamp?.toISOString() ?? null,
          keyId: head?.keyId ?? '',
          algorithm: head?.signatureAlgorithm ?? '',
        });
      },
      ['admin', 'auditor'],
    ),
  );

  api.get(
    '/audit/events',
    staff(
      'audit.ListAuditEvents',
      { patient: 'patient', page_token: 'pageToken' },
      async (req, res, { token }) => {
        const client = auditClient(res);
        if (!client) return;
        const q = (name: string): string =>
          typeof req.query[name] === 'string' ? String(req.query[name]) : '';
        const patient = q('patient').trim();
        const r = await callUnary(
          client,
          'listAuditEvents',
          audit.ListAuditEventsRequest.fromPartial({
            pageSize: 50,
            orderBy: 'leaf_index desc',
            pageToken: q('pageToken'),
            ...(patient ? { patient: `patients/${patient}` } : {}),
          }),
          ctx.metadataFor(res, token),
          opts,
        );
        res.status(200).json({
          events: r.auditEvents.map((e) => ({
            id: lastSegment(e.name),
            leafIndex: Number(e.leafIndex),
            type: e.type.replace(/^haven\./, ''),
            occurredAt: e.occurTime?.toISOString() ?? null,
            actor: e.actor ? `${e.actor.role || e.actor.id}` : '',
            patientId: e.patient ? lastSegment(e.patient) : '',
            leafHash: Buffer.from(e.leafHash).toString('hex'),
          })),
          nextPageToken: r.nextPageToken,
        });
      },
      ['admin', 'auditor'],
    ),
  );

  // One entry's inclusion proof as a file an auditor keeps and checks offline (bin/haven-audit-verify).
  api.get(
    '/audit/events/:id/proof',
    staff(
      'audit.GetInclusionProof',
      {},
      async (req, res, { token }) => {
        const id = pathId(req, res);
        const client = id && auditClient(res);
        if (!id || !client) return;
        const r = await callUnary(
          client,
          'getInclusionProof',
          audit.GetInclusionProofRequest.fromPartial({
            leaf: { $case: 'auditEvent', auditEvent: `auditEvents/${id}` },
            treeSize: '0',
          }),
          ctx.metadataFor(res, token),
          opts,
        );
        const head = r.treeHead;
        res.setHeader('content-disposition', `attachment; filename="audit-proof-${id}.json"`);
        res.status(200).json({
          format: 'haven.audit.inclusion-proof.v2',
          entry: `auditEvents/${id}`,
          leafIndex: Number(r.leafIndex),
          leafHash: Buffer.from(r.leafHash).toString('hex'),
          // The leaf's exact bytes (the entry's canonical JSON): the verifier binds the entry to its leaf.
          leafData: Buffer.from(r.leafData).toString('utf8'),
          auditPath: r.auditPath.map((h) => Buffer.from(h).toString('hex')),
          head: {
            treeSize: Number(head?.treeSize ?? 0),
            rootHash: Buffer.from(head?.rootHash ?? []).toString('hex'),
            timestampMs: head?.timestamp?.getTime() ?? 0,
            signature: Buffer.from(head?.signature ?? []).toString('base64'),
            keyId: head?.keyId ?? '',
            publicKey: Buffer.from(head?.publicKey ?? []).toString('base64'),
          },
        });
      },
      ['admin', 'auditor'],
    ),
  );

  // ---- the clinician's visits (front desk and everyone else: 403 before any call)

  const clinician = (rpc: string, fields: Readonly<Record<string, string>>, handler: Handler) =>
    staff(rpc, fields, handler, ['clinician']);
  const sessionClient = (res: Response): session.SessionServiceClient | undefined => {
    if (!clients.session) send(res, httpError('UNAVAILABLE'));
    return clients.session;
  };

  api.get(
    '/visits',
    clinician('session.ListVisits', {}, async (_req, res, { token, principal }) => {
      const client = sessionClient(res);
      if (!client) return;
      const [visits, appointments] = await Promise.all([
        callUnary(
          client,
          'listVisits',
          session.ListVisitsRequest.fromPartial({ pageSize: 100, clinician: `users/${principal.id}` }),
          ctx.metadataFor(res, token),
          opts,
        ),
        callUnary(
          clients.scheduling,
          'listAppointments',
          scheduling.ListAppointmentsRequest.fromPartial({
            pageSize: 200,
            clinician: `users/${principal.id}`,
          }),
          ctx.metadataFor(res, token),
          opts,
        ).catch(() => ({ appointments: [] as scheduling.Appointment[] })),
      ]);
      const byId = new Map(appointments.appointments.map((a) => [lastSegment(a.name), a]));
      const list = visits.visits.map((v) => {
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
      res.status(200).json({ visits: list });
    }),
  );

  api.get(
    '/visits/:id',
    clinician('session.GetVisit', {}, async (req, res, { token }) => {
      const id = pathId(req, res);
      const client = id && sessionClient(res);
      if (!id || !client) return;
      const r = await callUnary(
        client,
        'getVisit',
        { name: `visits/${id}` },
        ctx.metadataFor(res, token),
        opts,
      );
      if (!r.visit) {
        send(res, httpError('NOT_FOUND'));
        return;
      }
      const view = visitView(r.visit, ctx.media);
      res.status(200).json({
        visit: { id: view.id, status: view.status, locked: view.locked, participants: view.participants },
      });
    }),
  );

  const participantAction = (path: string, rpc: 'admitParticipant' | 'denyParticipant' | 'kickParticipant') =>
    api.post(
      `/visits/:id/${path}`,
      clinician(`session.${rpc}`, { name: 'participantId' }, async (req, res, { token }) => {
        const id = pathId(req, res);
        const client = id && sessionClient(res);
        if (!id || !client) return;
        const violations: HttpFieldViolation[] = [];
        const participantId = stringField(asRecord(req.body), 'participantId', 64, violations) ?? '';
        if (!PATH_ID.test(participantId))
          violations.push({ field: 'participantId', description: 'must name a participant' });
        if (invalid(res, violations)) return;
        const name = `visits/${id}/participants/${participantId}`;
        await callUnary(
          client,
          rpc,
          { name, allowRejoin: false, requestId: '' },
          ctx.metadataFor(res, token),
          opts,
        );
        res.status(200).json({ ok: true });
      }),
    );
  participantAction('admit', 'admitParticipant');
  participantAction('deny', 'denyParticipant');
  participantAction('kick', 'kickParticipant');

  const visitAction = (path: string, rpc: 'lockVisit' | 'unlockVisit' | 'endVisit') =>
    api.post(
      `/visits/:id/${path}`,
      clinician(`session.${rpc}`, {}, async (req, res, { token }) => {
        const id = pathId(req, res);
        const client = id && sessionClient(res);
        if (!id || !client) return;
        const r = await callUnary(
          client,
          rpc,
          { name: `visits/${id}`, requestId: '' },
          ctx.metadataFor(res, token),
          opts,
        );
        const view = r.visit ? visitView(r.visit, ctx.media) : undefined;
        res
          .status(200)
          .json(view ? { visit: { id: view.id, status: view.status, locked: view.locked } } : {});
      }),
    );
  visitAction('lock', 'lockVisit');
  visitAction('unlock', 'unlockVisit');
  visitAction('end', 'endVisit');

  api.post(
    '/visits/:id/media',
    clinician('session.JoinMedia', {}, async (req, res, { token }) => {
      const id = pathId(req, res);
      const client = id && sessionClient(res);
      if (!id || !client) return;
      const r = await callUnary(
        client,
        'joinMedia',
        { visit: `visits/${id}` },
        ctx.metadataFor(res, token),
        opts,
      );
      res.status(200).json(mediaView(r));
    }),
  );

  api.post(
    '/visits/:id/leave',
    clinician('session.LeaveVisit', {}, async (req, res, { token }) => {
      const id = pathId(req, res);
      const client = id && sessionClient(res);
      if (!id || !client) return;
      await callUnary(
        client,
        'leaveVisit',
        { visit: `visits/${id}`, requestId: '' },
        ctx.metadataFor(res, token),
        opts,
      );
      res.status(200).json({ ok: true });
    }),
  );
}

/**
 * What the browser needs to join the media room (JoinMedia), for staff and patients alike: where the media
 * websocket is (the gateway's own `/api/media`, `?as=patient` for the patient cookie) and this admission's
 * media credential (janus.js's `token`). No Janus address, token, room PIN or room token: the session service's
 * media proxy adds those itself.
 */
export function mediaView(r: session.JoinMediaResponse, opts: { patient?: boolean } = {}) {
  const server = r.serverUrl || '/api/media';
  return {
    serverUrl: opts.patient ? `${server}${server.includes('?') ? '&' : '?'}as=patient` : server,
    mediaCredential: r.mediaCredential,
    participantId: lastSegment(r.participant),
    expireTime: r.expireTime?.toISOString() ?? null,
    iceServers: r.iceServers.map((s) => ({
      urls: s.urls,
      ...(s.username ? { username: s.username } : {}),
      ...(s.credential ? { credential: s.credential } : {}),
    })),
  };
}
