/**
 * The patient's own visit (`/api/patient/*` with the `haven_patient` cookie as the bearer to the session
 * service): wait in the lobby, see where they are, join the media room, leave.
 */
import type { Router } from 'express';
import { session } from '@haven/proto';
import { callUnary } from '@haven/service';
import type { RouteContext } from '../context';
import { send } from '../http';
import { httpError } from '../http-errors';
import { mediaView, patientStatus } from '../visit-view';
import { patient } from './guards';

/** Registers POST /patient/lobby, GET /patient/visit, POST /patient/media and /patient/leave on /api. */
export function registerPatientVisitRoutes(api: Router, ctx: RouteContext): void {
  const opts = { deadlineMs: ctx.deadlineMs };

  api.post(
    '/patient/lobby',
    patient(ctx, 'session.JoinLobby', async (_req, res, { token }, visitId) => {
      await callUnary(
        ctx.clients.session!,
        'joinLobby',
        session.JoinLobbyRequest.fromPartial({ appointment: `appointments/${visitId}` }),
        ctx.metadataFor(res, token),
        opts,
      );
      res.status(200).json({ status: 'waiting', visitId });
    }),
  );

  api.get(
    '/patient/visit',
    patient(ctx, 'session.GetVisit', async (_req, res, { token }, visitId) => {
      const md = ctx.metadataFor(res, token);
      const { visit } = await callUnary(
        ctx.clients.session!,
        'getVisit',
        { name: `visits/${visitId}` },
        md,
        opts,
      );
      if (!visit) {
        send(res, httpError('NOT_FOUND'));
        return;
      }
      const status = patientStatus(visit);
      res.status(200).json({ visitId, status, locked: visit.locked });
    }),
  );

  api.post(
    '/patient/media',
    patient(ctx, 'session.JoinMedia', async (_req, res, { token }, visitId) => {
      const md = ctx.metadataFor(res, token);
      const r = await callUnary(ctx.clients.session!, 'joinMedia', { visit: `visits/${visitId}` }, md, opts);
      res.status(200).json(mediaView(r, { patient: true }));
    }),
  );

  api.post(
    '/patient/leave',
    patient(ctx, 'session.LeaveVisit', async (_req, res, { token }, visitId) => {
      const request = { visit: `visits/${visitId}`, requestId: '' };
      await callUnary(ctx.clients.session!, 'leaveVisit', request, ctx.metadataFor(res, token), opts);
      res.status(200).json({ ok: true });
    }),
  );
}
