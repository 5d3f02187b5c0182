/**
 * The patient's own visit (`/api/patient/*` with the `haven_patient` cookie as the bearer to the session
 * service): wait in the lobby, see where they are, join the media room, leave.
 */
import type { Router } from 'express';
import { session } from '@haven/proto';
import type { RouteContext } from '../context';
import { asRecord, choiceOf, lastSegment, send } from '../http';
import type { HttpFieldViolation } from '../http-errors';
import { httpError } from '../http-errors';
import { mediaView, ownDevicesIn, patientStatus, recordingView, rosterView } from '../visit-view';
import type { PatientVisitView } from '../patient-visit-view';
import type { RecordingAckView, RecordingConsentView } from '../recording-view';
import { patient } from './guards';
import { oneCall } from './one-call';
import type { OneCall } from './one-call';

const PERMISSIONS: Readonly<Record<string, session.DevicePermission>> = {
  granted: session.DevicePermission.DEVICE_PERMISSION_GRANTED,
  denied: session.DevicePermission.DEVICE_PERMISSION_DENIED,
  unavailable: session.DevicePermission.DEVICE_PERMISSION_UNAVAILABLE,
};

/**
 * The optional `deviceCheck` of a lobby body (`{ camera, microphone, speaker, permission }`: booleans and one of
 * granted/denied/unavailable); undefined when absent, and a field violation when malformed.
 */
export function deviceCheckOf(
  body: unknown,
  violations: HttpFieldViolation[],
): session.DeviceCheck | undefined {
  const raw = asRecord(body)['deviceCheck'];
  if (raw === undefined) return undefined;
  const d = asRecord(raw);
  const flags = ['camera', 'microphone', 'speaker'] as const;
  const permission = choiceOf(PERMISSIONS, d['permission']);
  if (flags.some((f) => typeof d[f] !== 'boolean') || permission === undefined) {
    violations.push({
      field: 'deviceCheck',
      description:
        'must be { camera, microphone, speaker: booleans, permission: granted|denied|unavailable }',
    });
    return undefined;
  }
  return {
    camera: d['camera'] === true,
    microphone: d['microphone'] === true,
    speaker: d['speaker'] === true,
    permission,
  };
}

/** `granted` of a consent body: a boolean, required. */
export function grantedOf(body: unknown, violations: HttpFieldViolation[]): boolean {
  const granted = asRecord(body)['granted'];
  if (typeof granted !== 'boolean')
    violations.push({ field: 'granted', description: 'must be true or false' });
  return granted === true;
}

/** Leaving a visit: the same call for the patient (their visit) and the clinician (`/visits/:id`). */
export const LEAVE_VISIT = {
  client: 'session',
  method: 'leaveVisit',
  request: ({ id }) => ({ visit: `visits/${id}`, requestId: '' }),
  view: () => ({ ok: true }),
} satisfies OneCall<'session', 'leaveVisit'>;

/** A device's own consent to recording (given, refused or withdrawn): a withdrawal stops a recording at once. */
export const RECORD_CONSENT = {
  client: 'session',
  method: 'recordConsent',
  request: ({ id, body, violations }) =>
    session.RecordConsentRequest.fromPartial({
      visit: `visits/${id}`,
      scope: session.ConsentScope.CONSENT_SCOPE_RECORDING,
      granted: grantedOf(body, violations),
    }),
  view: (r, { body }): RecordingConsentView => ({ granted: r.consent?.granted ?? grantedOf(body, []) }),
} satisfies OneCall<'session', 'recordConsent'>;

/** The page showed the recording notice and its user acknowledged it. */
export const ACKNOWLEDGE_RECORDING = {
  client: 'session',
  method: 'acknowledgeRecordingNotice',
  request: ({ id }) => ({ visit: `visits/${id}` }),
  view: (r): RecordingAckView => ({ recordingId: lastSegment(r.recording) }),
} satisfies OneCall<'session', 'acknowledgeRecordingNotice'>;

/**
 * Registers POST /patient/lobby, GET /patient/visit, POST /patient/media and /patient/leave, and the recording
 * routes POST /patient/recording/consent and /patient/recording/ack, on /api.
 */
export function registerPatientVisitRoutes(api: Router, ctx: RouteContext): void {
  api.post(
    '/patient/lobby',
    patient(
      ctx,
      'session.JoinLobby',
      oneCall(ctx, {
        client: 'session',
        method: 'joinLobby',
        request: ({ id, body, violations }) => {
          const deviceCheck = deviceCheckOf(body, violations);
          return session.JoinLobbyRequest.fromPartial({
            appointment: `appointments/${id}`,
            ...(deviceCheck ? { deviceCheck } : {}),
          });
        },
        view: (_r, { id }) => ({ status: 'waiting', visitId: id }),
      }),
    ),
  );

  api.get(
    '/patient/visit',
    patient(ctx, 'session.GetVisit', async (_req, res, { token, principal }, visitId) => {
      const { visit } = await ctx.call(res, token, ctx.clients.session!, 'getVisit', {
        name: `visits/${visitId}`,
      });
      if (!visit) {
        send(res, httpError('NOT_FOUND'));
        return;
      }
      const status = patientStatus(visit);
      const view: PatientVisitView = {
        visitId,
        status,
        // A guest who joined with a one-time link (an interpreter, a relative): no chat, recordings or access log.
        guest: principal.kind === 'guest',
        locked: visit.locked,
        recording: recordingView(visit),
        // Who is in the room, for the tiles' labels; only once this device is in it too.
        participants: status === 'admitted' ? rosterView(visit) : [],
        // The caller's own other devices already in (device numbers), for a device that still waits.
        yourOtherDevicesIn: ownDevicesIn(visit),
      };
      res.status(200).json(view);
    }),
  );

  api.post(
    '/patient/media',
    patient(
      ctx,
      'session.JoinMedia',
      oneCall(ctx, {
        client: 'session',
        method: 'joinMedia',
        request: ({ id }) => ({ visit: `visits/${id}` }),
        view: (r) => mediaView(r, { patient: true }),
      }),
    ),
  );

  api.post('/patient/leave', patient(ctx, 'session.LeaveVisit', oneCall(ctx, LEAVE_VISIT)));
  api.post('/patient/recording/consent', patient(ctx, 'session.RecordConsent', oneCall(ctx, RECORD_CONSENT)));
  api.post(
    '/patient/recording/ack',
    patient(ctx, 'session.AcknowledgeRecordingNotice', oneCall(ctx, ACKNOWLEDGE_RECORDING)),
  );
}
