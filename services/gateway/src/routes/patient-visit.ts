/**
 * The patient's own visit (`/api/patient/*` with the `haven_patient` cookie as the bearer to the session
 * service): wait in the lobby, see where they are, join the media room, leave.
 */
import type { Router } from 'express';
import { session } from '@haven/proto';
import type { RouteContext } from '../context';
import { asRecord, invalid, send } from '../http';
import type { HttpFieldViolation } from '../http-errors';
import { httpError } from '../http-errors';
import { mediaView, ownDevicesIn, patientStatus, recordingView, rosterView } from '../visit-view';
import { patient } from './guards';

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
  const permission =
    typeof d['permission'] === 'string' && Object.hasOwn(PERMISSIONS, d['permission'])
      ? PERMISSIONS[d['permission']]
      : undefined;
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

/**
 * Registers POST /patient/lobby, GET /patient/visit, POST /patient/media and /patient/leave, and the recording
 * routes POST /patient/recording/consent and /patient/recording/ack, on /api.
 */
export function registerPatientVisitRoutes(api: Router, ctx: RouteContext): void {
  api.post(
    '/patient/lobby',
    patient(ctx, 'session.JoinLobby', async (req, res, { token }, visitId) => {
      const violations: HttpFieldViolation[] = [];
      const deviceCheck = deviceCheckOf(req.body, violations);
      if (invalid(res, violations)) return;
      await ctx.call(
        res,
        token,
        ctx.clients.session!,
        'joinLobby',
        session.JoinLobbyRequest.fromPartial({
          appointment: `appointments/${visitId}`,
          ...(deviceCheck ? { deviceCheck } : {}),
        }),
      );
      res.status(200).json({ status: 'waiting', visitId });
    }),
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
      res.status(200).json({
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
      });
    }),
  );

  api.post(
    '/patient/media',
    patient(ctx, 'session.JoinMedia', async (_req, res, { token }, visitId) => {
      const r = await ctx.call(res, token, ctx.clients.session!, 'joinMedia', { visit: `visits/${visitId}` });
      res.status(200).json(mediaView(r, { patient: true }));
    }),
  );

  api.post(
    '/patient/leave',
    patient(ctx, 'session.LeaveVisit', async (_req, res, { token }, visitId) => {
      const request = { visit: `visits/${visitId}`, requestId: '' };
      await ctx.call(res, token, ctx.clients.session!, 'leaveVisit', request);
      res.status(200).json({ ok: true });
    }),
  );

  // The device's own consent to recording (given, refused or withdrawn): a withdrawal stops a recording at once.
  api.post(
    '/patient/recording/consent',
    patient(ctx, 'session.RecordConsent', async (req, res, { token }, visitId) => {
      const violations: HttpFieldViolation[] = [];
      const granted = grantedOf(req.body, violations);
      if (invalid(res, violations)) return;
      const request = session.RecordConsentRequest.fromPartial({
        visit: `visits/${visitId}`,
        scope: session.ConsentScope.CONSENT_SCOPE_RECORDING,
        granted,
      });
      const r = await ctx.call(res, token, ctx.clients.session!, 'recordConsent', request);
      res.status(200).json({ granted: r.consent?.granted ?? granted });
    }),
  );

  // The page showed the recording notice and the patient acknowledged it.
  api.post(
    '/patient/recording/ack',
    patient(ctx, 'session.AcknowledgeRecordingNotice', async (_req, res, { token }, visitId) => {
      const r = await ctx.call(res, token, ctx.clients.session!, 'acknowledgeRecordingNotice', {
        visit: `visits/${visitId}`,
      });
      res.status(200).json({ recordingId: r.recording.split('/').pop() ?? '' });
    }),
  );
}
