/**
 * The waiting room's note: the clinician posts it (`POST /api/visits/:id/lobby-notice`: a canned "running late"
 * with the minutes, a typed note, or none; and whether the waiting room shows the patient's place in the queue),
 * the patient's page reads it (`GET /api/patient/lobby-notice`) when the live channel says `lobby-notice`.
 */
import type { Router } from 'express';
import { session } from '@haven/proto';
import type { RouteContext } from '../context';
import { asRecord, choiceOf, invalid } from '../http';
import type { HttpFieldViolation } from '../http-errors';
import { patient } from './guards';
import { visitDoors } from './visits';
import type { LobbyNoticeAnswerView, LobbyNoticeKindName, LobbyNoticeView } from '../lobby-notice-view';

const KINDS: Readonly<Record<LobbyNoticeKindName, session.LobbyNoticeKind>> = {
  none: session.LobbyNoticeKind.LOBBY_NOTICE_KIND_NONE,
  running_late: session.LobbyNoticeKind.LOBBY_NOTICE_KIND_RUNNING_LATE,
  typed: session.LobbyNoticeKind.LOBBY_NOTICE_KIND_TYPED,
};
const KIND_NAMES: Readonly<Record<number, LobbyNoticeKindName>> = Object.fromEntries(
  Object.entries(KINDS).map(([name, value]) => [value, name as LobbyNoticeKindName]),
);

/** A note as the pages see it. */
export function noticeView(n: session.LobbyNotice | undefined): LobbyNoticeView {
  return {
    kind: KIND_NAMES[n?.kind ?? 0] ?? 'none',
    delayMinutes: n?.delayMinutes ?? 0,
    text: n?.text ?? '',
    showPosition: n?.showPosition ?? false,
    position: n?.position ?? 0,
    at: n?.createTime ? n.createTime.toISOString() : null,
  };
}

/** Registers POST /visits/:id/lobby-notice and GET /patient/lobby-notice on /api. */
export function registerLobbyNoticeRoutes(api: Router, ctx: RouteContext): void {
  const { onVisit } = visitDoors(ctx);

  api.post(
    '/visits/:id/lobby-notice',
    onVisit(
      'session.PostLobbyNotice',
      async (req, res, { id, call }) => {
        const body = asRecord(req.body);
        const violations: HttpFieldViolation[] = [];
        const kind = choiceOf(KINDS, body['kind']);
        if (kind === undefined) {
          violations.push({ field: 'kind', description: 'must be none, running_late or typed' });
        }
        const delay = body['delayMinutes'] ?? 0;
        if (typeof delay !== 'number' || !Number.isInteger(delay)) {
          violations.push({ field: 'delayMinutes', description: 'must be a whole number of minutes' });
        }
        const text = body['text'] ?? '';
        if (typeof text !== 'string') violations.push({ field: 'text', description: 'must be a string' });
        const show = body['showPosition'] ?? false;
        if (typeof show !== 'boolean')
          violations.push({ field: 'showPosition', description: 'must be true or false' });
        if (invalid(res, violations)) return;
        const r = await call(
          'postLobbyNotice',
          session.PostLobbyNoticeRequest.fromPartial({
            visit: `visits/${id}`,
            kind: kind ?? session.LobbyNoticeKind.LOBBY_NOTICE_KIND_UNSPECIFIED,
            delayMinutes: delay as number,
            text: text as string,
            showPosition: show as boolean,
          }),
        );
        res.status(200).json({ notice: noticeView(r.notice) } satisfies LobbyNoticeAnswerView);
      },
      { delay_minutes: 'delayMinutes', show_position: 'showPosition' },
    ),
  );

  api.get(
    '/patient/lobby-notice',
    patient(ctx, 'session.GetLobbyNotice', async (_req, res, { token }, visitId) => {
      const r = await ctx.call(res, token, ctx.clients.session!, 'getLobbyNotice', {
        visit: `visits/${visitId}`,
      });
      res.status(200).json({ notice: noticeView(r.notice) } satisfies LobbyNoticeAnswerView);
    }),
  );
}
