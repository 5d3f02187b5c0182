/**
 * gRPC handlers of SessionService for the visit's chat: SendChatMessage and ListChatMessages. Membership, limits
 * and sealing are the chat service's; these validate the request and map the answer.
 */
import { ValidationError } from '@haven/errors';
import { session } from '@haven/proto';
import { commandMetadata, pageSizeOf, requirePrincipal, type CallContext } from '@haven/service';
import type { ChatFileService } from './chat-file-service';
import { callerOf, ID, visitIdOf } from './names';
import type {
  ChatFileView,
  ChatMessageView,
  ChatService,
  TranscriptService,
  TranscriptView,
} from './chat-service';

const MESSAGE_ID = /^[0-9a-f-]{36}$/;
const FILE_NAME = /^visits\/([^/]+)\/files\/([0-9a-f-]{36})$/;

const ROLE = {
  clinician: session.ParticipantRole.PARTICIPANT_ROLE_CLINICIAN,
  patient: session.ParticipantRole.PARTICIPANT_ROLE_PATIENT,
  guest: session.ParticipantRole.PARTICIPANT_ROLE_GUEST,
} as const;

/** A shared file as the API names and describes it (a message's attachment, or the head of a ReadChatFile stream). */
function fileToProto(visitId: string, f: ChatFileView): session.ChatFile {
  return {
    name: `visits/${visitId}/files/${f.fileId}`,
    fileName: f.fileName,
    mediaType: f.mediaType,
    sizeBytes: String(f.sizeBytes),
  };
}

function toProto(m: ChatMessageView): session.ChatMessage {
  return session.ChatMessage.fromPartial({
    name: `visits/${m.visitId}/messages/${m.messageId}`,
    sender: `visits/${m.visitId}/participants/${m.participantId}`,
    senderRole: ROLE[m.role],
    text: m.text,
    createTime: new Date(m.postedAt),
    fromCaller: m.mine,
    ...(m.file ? { file: fileToProto(m.visitId, m.file) } : {}),
  });
}

async function sendChatMessage(
  chat: ChatService,
  request: session.SendChatMessageRequest,
  ctx: CallContext,
): Promise<session.SendChatMessageResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  const message = await chat.send(visitId, callerOf(principal), request.text, commandMetadata(ctx));
  return { message: toProto(message) };
}

async function listChatMessages(
  chat: ChatService,
  request: session.ListChatMessagesRequest,
  ctx: CallContext,
): Promise<session.ListChatMessagesResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  let after: string | undefined;
  if (request.after !== '') {
    const m = /^visits\/([^/]+)\/messages\/([^/]+)$/.exec(request.after);
    if (m?.[1] !== visitId || !m[2] || !MESSAGE_ID.test(m[2])) {
      throw new ValidationError([{ field: 'after', description: 'must be a message of this visit' }]);
    }
    after = m[2];
  }
  const limit = pageSizeOf(request.pageSize, { defaultSize: 200, maxSize: 500 });
  const messages = await chat.list(
    visitId,
    principal,
    callerOf(principal),
    { ...(after !== undefined ? { after } : {}), limit },
    ctx,
  );
  return { messages: messages.map(toProto) };
}

async function shareChatFile(
  files: ChatFileService,
  request: session.ShareChatFileRequest,
  ctx: CallContext,
): Promise<session.ShareChatFileResponse> {
  const principal = requirePrincipal(ctx);
  const visitId = visitIdOf(request.visit, 'visit');
  const message = await files.share(
    visitId,
    callerOf(principal),
    { fileName: request.fileName, content: Buffer.from(request.content) },
    commandMetadata(ctx),
  );
  return { message: toProto(message) };
}

async function readChatFile(
  files: ChatFileService,
  request: session.ReadChatFileRequest,
  ctx: CallContext,
  send: (message: session.ReadChatFileResponse) => Promise<void>,
): Promise<void> {
  const principal = requirePrincipal(ctx);
  const m = FILE_NAME.exec(request.name);
  if (!m?.[1] || !m[2] || !ID.test(m[1])) {
    throw new ValidationError([{ field: 'name', description: 'must be visits/{visit}/files/{file}' }]);
  }
  const visitId = m[1];
  await files.read(visitId, m[2], principal, callerOf(principal), ctx, (part) =>
    send(
      session.ReadChatFileResponse.fromPartial({
        ...(part.file ? { file: fileToProto(visitId, part.file) } : {}),
        ...(part.data ? { data: part.data } : {}),
      }),
    ),
  );
}

/** The chat files' server-streaming handler (ReadChatFile). */
export function chatFileStreams(files: ChatFileService) {
  return {
    readChatFile: (
      request: session.ReadChatFileRequest,
      ctx: CallContext,
      send: (message: session.ReadChatFileResponse) => Promise<void>,
    ) => readChatFile(files, request, ctx, send),
  };
}

function transcriptToProto(t: TranscriptView): session.ChatTranscript {
  return session.ChatTranscript.fromPartial({
    name: `visits/${t.visitId}/transcripts/${t.transcriptId}`,
    text: t.text,
    messageCount: t.messageCount,
    fileCount: t.fileCount,
    exportedBy: t.exportedBy,
    createTime: new Date(t.exportedAt),
  });
}

/** The chat's handlers, to merge with the visit handlers. */
export function chatHandlers(chat: ChatService, files: ChatFileService, transcripts: TranscriptService) {
  return {
    exportChatTranscript: async (request: session.ExportChatTranscriptRequest, ctx: CallContext) => {
      const principal = requirePrincipal(ctx);
      const visitId = visitIdOf(request.visit, 'visit');
      const t = await transcripts.export(visitId, principal, callerOf(principal), ctx, commandMetadata(ctx));
      return { transcript: transcriptToProto(t) };
    },
    getChatTranscript: async (request: session.GetChatTranscriptRequest, ctx: CallContext) => {
      const principal = requirePrincipal(ctx);
      const visitId = visitIdOf(request.visit, 'visit');
      return {
        transcript: transcriptToProto(await transcripts.get(visitId, principal, callerOf(principal), ctx)),
      };
    },
    shareChatFile: (request: session.ShareChatFileRequest, ctx: CallContext) =>
      shareChatFile(files, request, ctx),
    sendChatMessage: (request: session.SendChatMessageRequest, ctx: CallContext) =>
      sendChatMessage(chat, request, ctx),
    listChatMessages: (request: session.ListChatMessagesRequest, ctx: CallContext) =>
      listChatMessages(chat, request, ctx),
  };
}
