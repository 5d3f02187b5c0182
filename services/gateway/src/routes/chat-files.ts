/**
 * Files in a visit's chat, over plain HTTP (not the live channel):
 *
 *   POST /api/visits/:id/chat/files      (staff cookie)    body: the bytes, `application/octet-stream`,
 *   POST /api/patient/chat/files         (patient cookie)  the name in `X-File-Name` (percent-encoded)
 *     → 201 { message }  (the chat message that shares it; every open chat gets it over the live channel)
 *   GET  /api/visits/:id/chat/files/:fileId       (staff cookie)
 *   GET  /api/patient/chat/files/:fileId          (patient cookie)
 *     → the bytes, `Content-Disposition: attachment`, `X-Content-Type-Options: nosniff`, the type the session
 *       service found from the content, and a sandboxing CSP (a browser never runs it as a page of ours)
 *
 *   POST /api/visits/:id/chat/transcript  (staff cookie) → 201 { transcript }: the chat exported into the record
 *   GET  /api/visits/:id/chat/transcript  (staff cookie) → 200 { transcript }: the latest export
 *
 * The cookie is checked before the body is read; the body is at most the clinic's limit (413 beyond). Who may
 * share and read is the session service's decision (visit members; a refusal is recorded there), which also
 * finds the type by the bytes, stores them encrypted and records each read as PhiAccessed before the first byte.
 */
import type { Metadata } from '@grpc/grpc-js';
import express from 'express';
import type { Request, RequestHandler, Response, Router } from 'express';
import { session } from '@haven/proto';
import type { ChatFileSharedView, ChatTranscriptAnswerView, ChatTranscriptView } from '../chat-view';
import { chatMessageView } from '../chat-ws';
import { authenticate, type Authenticated, type RouteContext } from '../context';
import { pathId, send } from '../http';
import { headThenData, writeChunk, type HeadedStream } from '../grpc-stream';
import { httpError, httpErrorFromGrpc } from '../http-errors';
import { COOKIES } from '../security';

const UPLOAD_PATH = /^\/(?:visits\/[A-Za-z0-9_-]{1,64}\/chat\/files|patient\/chat\/files)$/;
const FILE_ID = /^[0-9a-f-]{36}$/;

/** Whether a request under /api is a chat file upload (its body is raw bytes, not JSON). */
export function isChatFileUpload(req: Request): boolean {
  return req.method === 'POST' && UPLOAD_PATH.test(req.path);
}

/** The visit of a patient token (`visits/{id}`), or undefined. */
function patientVisit(auth: Authenticated): string | undefined {
  const m = /^visits\/([A-Za-z0-9_-]{1,64})$/.exec(auth.principal.subjectOf ?? '');
  return m?.[1];
}

/** An ASCII-only stand-in for a file name in `filename=` (the real one goes in `filename*`). */
function asciiName(name: string): string {
  const plain = name.replace(/[^\x20-\x7E]/g, '_').replace(/["\\]/g, '_');
  return plain.trim() === '' ? 'file' : plain;
}

/**
 * Who calls, for which visit (the path's for staff, the token's for a patient), and the session client; undefined
 * once the refusal (401, 403, 503) was sent.
 */
async function chatCaller(
  ctx: RouteContext,
  req: Request,
  res: Response,
  as: 'staff' | 'patient',
  visitId: string,
): Promise<{ visit: string; token: string; client: session.SessionServiceClient } | undefined> {
  const auth = await authenticate(ctx, req, res, as === 'staff' ? COOKIES.access : COOKIES.patient);
  if (!auth) return undefined;
  const visit = as === 'staff' ? visitId : patientVisit(auth);
  if (!visit) {
    send(res, httpError('PERMISSION_DENIED'));
    return undefined;
  }
  if (!ctx.clients.session) {
    send(res, httpError('UNAVAILABLE'));
    return undefined;
  }
  return { visit, token: auth.token, client: ctx.clients.session };
}

function uploadRoute(ctx: RouteContext, as: 'staff' | 'patient', maxBytes: number): RequestHandler {
  const raw = express.raw({ type: 'application/octet-stream', limit: maxBytes });
  return async (req, res, next) => {
    const visitId = as === 'staff' ? pathId(req, res) : '';
    if (visitId === undefined) return;
    const caller = await chatCaller(ctx, req, res, as, visitId);
    if (!caller) return;
    let fileName: string;
    try {
      fileName = decodeURIComponent(req.get('x-file-name') ?? '');
    } catch {
      fileName = '';
    }
    // The body parser's own error (too large: 413) goes to the API's error handler as it is.
    const read = await new Promise<{ error?: unknown }>((resolve) => {
      raw(req, res, (error?: unknown) => resolve(error === undefined ? {} : { error }));
    });
    if (read.error !== undefined) {
      next(read.error);
      return;
    }
    const content: unknown = req.body;
    if (!Buffer.isBuffer(content) || content.length === 0) {
      send(res, httpError('INVALID_ARGUMENT', [{ field: 'content', description: 'must not be empty' }]));
      return;
    }
    try {
      const r = await ctx.call(
        res,
        caller.token,
        caller.client,
        'shareChatFile',
        session.ShareChatFileRequest.fromPartial({ visit: `visits/${caller.visit}`, fileName, content }),
      );
      res
        .status(201)
        .json({ message: r.message ? chatMessageView(r.message) : null } satisfies ChatFileSharedView);
    } catch (err) {
      ctx.logCallFailure(res, 'session.ShareChatFile', err);
      send(res, httpErrorFromGrpc(err));
    }
  };
}

/** One ReadChatFile call, resolved once its first message (what the file is) arrived. */
function readFile(
  client: session.SessionServiceClient,
  name: string,
  metadata: Metadata,
  deadlineMs: number,
  signal: AbortSignal,
): Promise<HeadedStream<session.ChatFile>> {
  const call = client.readChatFile({ name }, metadata, { deadline: Date.now() + deadlineMs });
  return headThenData(call, (first) => first.file, 'file description', signal);
}

function downloadRoute(ctx: RouteContext, as: 'staff' | 'patient'): RequestHandler {
  return async (req, res) => {
    const visitId = as === 'staff' ? pathId(req, res) : '';
    if (visitId === undefined) return;
    const fileId = req.params['fileId'];
    if (typeof fileId !== 'string' || !FILE_ID.test(fileId)) {
      send(res, httpError('NOT_FOUND'));
      return;
    }
    const caller = await chatCaller(ctx, req, res, as, visitId);
    if (!caller) return;
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    try {
      const { head: file, data } = await readFile(
        caller.client,
        `visits/${caller.visit}/files/${fileId}`,
        ctx.metadataFor(res, caller.token),
        ctx.deadlineMs * 6,
        abort.signal,
      );
      res.status(200);
      res.setHeader('content-type', file.mediaType);
      res.setHeader('content-length', String(Number(file.sizeBytes)));
      res.setHeader(
        'content-disposition',
        `attachment; filename="${asciiName(file.fileName)}"; filename*=UTF-8''${encodeURIComponent(file.fileName)}`,
      );
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('content-security-policy', "sandbox; default-src 'none'");
      for await (const chunk of data) await writeChunk(res, chunk);
      res.end();
    } catch (err) {
      ctx.logCallFailure(res, 'session.ReadChatFile', err);
      if (res.headersSent) res.destroy();
      else send(res, httpErrorFromGrpc(err));
    }
  };
}

/** A transcript as the clinician's page gets it. */
function transcriptView(t: session.ChatTranscript | undefined): ChatTranscriptView | null {
  return t
    ? {
        id: t.name.split('/').at(-1) ?? '',
        text: t.text,
        messageCount: t.messageCount,
        fileCount: t.fileCount,
        exportedAt: t.createTime?.toISOString() ?? null,
      }
    : null;
}

/**
 * `POST /api/visits/:id/chat/transcript` exports the chat into the visit record (ExportChatTranscript), `GET`
 * reads the latest export back (GetChatTranscript): a host clinician only, each a PhiAccessed in the session.
 */
function transcriptRoute(
  ctx: RouteContext,
  rpc: 'exportChatTranscript' | 'getChatTranscript',
): RequestHandler {
  return async (req, res) => {
    const visitId = pathId(req, res);
    if (visitId === undefined) return;
    const auth = await authenticate(ctx, req, res, COOKIES.access);
    if (!auth) return;
    if (!ctx.clients.session) {
      send(res, httpError('UNAVAILABLE'));
      return;
    }
    try {
      const r = await ctx.call(res, auth.token, ctx.clients.session, rpc, { visit: `visits/${visitId}` });
      res
        .status(rpc === 'exportChatTranscript' ? 201 : 200)
        .json({ transcript: transcriptView(r.transcript) } satisfies ChatTranscriptAnswerView);
    } catch (err) {
      ctx.logCallFailure(res, `session.${rpc}`, err);
      send(res, httpErrorFromGrpc(err));
    }
  };
}

/** Registers the chat file and transcript routes on the /api router. */
export function registerChatFileRoutes(api: Router, ctx: RouteContext, options: { maxBytes: number }): void {
  api.post('/visits/:id/chat/transcript', transcriptRoute(ctx, 'exportChatTranscript'));
  api.get('/visits/:id/chat/transcript', transcriptRoute(ctx, 'getChatTranscript'));
  api.post('/visits/:id/chat/files', uploadRoute(ctx, 'staff', options.maxBytes));
  api.post('/patient/chat/files', uploadRoute(ctx, 'patient', options.maxBytes));
  api.get('/visits/:id/chat/files/:fileId', downloadRoute(ctx, 'staff'));
  api.get('/patient/chat/files/:fileId', downloadRoute(ctx, 'patient'));
}
