/**
 * gRPC handlers of SessionService for the waiting room's note: PostLobbyNotice and GetLobbyNotice. Ownership,
 * limits and sealing are the note service's; these validate the request and map the answer.
 */
import { ValidationError } from '@haven/errors';
import { session } from '@haven/proto';
import { bindHandlers, commandMetadata, requirePrincipal, type CallContext } from '@haven/service';
import { callerOf, visitIdOf } from './names';
import { LobbyNoticeKind } from './lobby-notice';
import type { LobbyNoticeService, LobbyNoticeView } from './lobby-notice-service';

const KIND_OF_PROTO: Readonly<Record<number, LobbyNoticeKind>> = {
  [session.LobbyNoticeKind.LOBBY_NOTICE_KIND_NONE]: LobbyNoticeKind.None,
  [session.LobbyNoticeKind.LOBBY_NOTICE_KIND_RUNNING_LATE]: LobbyNoticeKind.RunningLate,
  [session.LobbyNoticeKind.LOBBY_NOTICE_KIND_TYPED]: LobbyNoticeKind.Typed,
};
const PROTO_OF_KIND: Readonly<Record<LobbyNoticeKind, session.LobbyNoticeKind>> = {
  none: session.LobbyNoticeKind.LOBBY_NOTICE_KIND_NONE,
  running_late: session.LobbyNoticeKind.LOBBY_NOTICE_KIND_RUNNING_LATE,
  typed: session.LobbyNoticeKind.LOBBY_NOTICE_KIND_TYPED,
};

function toProto(n: LobbyNoticeView): session.LobbyNotice {
  return session.LobbyNotice.fromPartial({
    kind: PROTO_OF_KIND[n.kind],
    delayMinutes: n.delayMinutes,
    text: n.text,
    showPosition: n.showPosition,
    position: n.position,
    createTime: n.postedAt ? new Date(n.postedAt) : undefined,
  });
}

async function postLobbyNotice(
  notices: LobbyNoticeService,
  request: session.PostLobbyNoticeRequest,
  ctx: CallContext,
): Promise<session.PostLobbyNoticeResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  const kind = KIND_OF_PROTO[request.kind];
  if (!kind)
    throw new ValidationError([{ field: 'kind', description: 'must be NONE, RUNNING_LATE or TYPED' }]);
  const notice = await notices.post(
    visitId,
    callerOf(principal),
    { kind, delayMinutes: request.delayMinutes, text: request.text, showPosition: request.showPosition },
    commandMetadata(ctx),
  );
  return { notice: toProto(notice) };
}

async function getLobbyNotice(
  notices: LobbyNoticeService,
  request: session.GetLobbyNoticeRequest,
  ctx: CallContext,
): Promise<session.GetLobbyNoticeResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  return { notice: toProto(await notices.get(visitId, principal, callerOf(principal), ctx)) };
}

/** The note's handlers, to merge with the visit handlers. */
export function lobbyNoticeHandlers(notices: LobbyNoticeService) {
  return bindHandlers(notices, { postLobbyNotice, getLobbyNotice });
}
