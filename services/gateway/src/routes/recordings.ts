/**
 * Recording playback (see docs/adr on recording playback): `POST /api/recordings/:id/playback` asks the recording
 * service for a short-lived grant (the visit's clinician with the staff cookie; the patient with the patient
 * cookie, when the clinic allows), `GET /api/recordings/:id/media?grant=…` streams the decrypted media with HTTP
 * range support (206, Accept-Ranges, Content-Range, 416). The gateway never holds a key: each answer is one
 * ReadRecordingMedia call whose bytes the recording service authenticated and recorded (RecordingViewed +
 * PhiAccessed) before sending the first one. Front desk, auditors and admins are refused by the recording
 * service, which records the refusal. `GET /api/recordings` lists the clinician's recordings (optionally of one
 * visit; processing ones with their percent), `GET /api/patient/recordings` the patient's own playable ones when
 * the clinic allows.
 */
import type { Metadata } from '@grpc/grpc-js';
import type { Request, RequestHandler, Response, Router } from 'express';
import { phiEvents, recording } from '@haven/proto';
import { authenticate, type Authenticated, type RouteContext } from '../context';
import { asRecord, choiceOf, lastSegment, pathId, queryText, send } from '../http';
import { httpError, httpErrorFromGrpc } from '../http-errors';
import {
  contentRange,
  parseRangeHeader,
  resolveRange,
  unsatisfiedRange,
  type ResolvedRange,
} from '../http-range';
import { headThenData, writeChunk, type HeadedStream } from '../grpc-stream';
import { noteRefusal } from '../refusals';
import { oneCall } from './one-call';
import type {
  PlaybackGrantView,
  RecordingItemView,
  RecordingPageView,
  StoredRecordingStateName,
} from '../recording-view';
import { COOKIES, cookie } from '../security';

/** Bytes one range answer carries at most (the recording service's window). */
export const PLAYBACK_WINDOW_BYTES = 1024 * 1024;

const PURPOSES: Readonly<Record<string, phiEvents.PhiAccessPurpose>> = {
  treatment: phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_TREATMENT,
  operations: phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_OPERATIONS,
  payment: phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_PAYMENT,
  patient_request: phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_PATIENT_REQUEST,
};

const GRANT = /^[A-Za-z0-9_-]{20,100}$/;

/**
 * The caller: the staff cookie when there is one, else the patient cookie. Who may play is the recording
 * service's decision (the policy table, then the visit): it refuses front desk, auditors and admins and records
 * the refusal itself. Answers 401 and resolves undefined without a valid cookie.
 */
async function viewer(ctx: RouteContext, req: Request, res: Response): Promise<Authenticated | undefined> {
  const staff = cookie(req, COOKIES.access) !== undefined;
  return authenticate(ctx, req, res, staff ? COOKIES.access : COOKIES.patient);
}

function route(
  ctx: RouteContext,
  rpc: string,
  handler: (req: Request, res: Response, auth: Authenticated, id: string) => Promise<void>,
): RequestHandler {
  return async (req, res) => {
    const id = pathId(req, res);
    if (id === undefined) return;
    const auth = await viewer(ctx, req, res);
    if (!auth) return;
    if (!ctx.clients.recording) {
      send(res, httpError('UNAVAILABLE'));
      return;
    }
    try {
      await handler(req, res, auth, id);
    } catch (err) {
      ctx.logCallFailure(res, rpc, err);
      if (res.headersSent) res.destroy();
      else send(res, httpErrorFromGrpc(err));
    }
  };
}

/** One ReadRecordingMedia call, resolved once its first message (the sizes) arrived. */
type MediaCall = HeadedStream<recording.MediaRange>;

function readMedia(
  client: recording.RecordingServiceClient,
  request: recording.ReadRecordingMediaRequest,
  metadata: Metadata,
  deadlineMs: number,
  signal: AbortSignal,
): Promise<MediaCall> {
  const call = client.readRecordingMedia(request, metadata, { deadline: Date.now() + deadlineMs });
  return headThenData(call, (first) => first.range, 'range', signal);
}

const STATE_NAMES: Readonly<Record<number, StoredRecordingStateName>> = {
  [recording.RecordingState.RECORDING_STATE_RECORDING]: 'recording',
  [recording.RecordingState.RECORDING_STATE_PROCESSING]: 'processing',
  [recording.RecordingState.RECORDING_STATE_AVAILABLE]: 'available',
  [recording.RecordingState.RECORDING_STATE_FAILED]: 'failed',
  [recording.RecordingState.RECORDING_STATE_DELETED]: 'deleted',
};

/** A recording as the browser sees it (metadata only). */
export function recordingListView(r: recording.Recording): RecordingItemView {
  const seconds = Number(r.duration?.seconds ?? 0) + (r.duration?.nanos ?? 0) / 1e9;
  return {
    id: lastSegment(r.name),
    visitId: lastSegment(r.visit),
    state: STATE_NAMES[r.state] ?? 'unknown',
    percent: r.progressPercent,
    startTime: r.startTime?.toISOString() ?? null,
    endTime: r.endTime?.toISOString() ?? null,
    durationSeconds: Math.round(seconds),
    sizeBytes: Number(r.sizeBytes),
    legalHold: r.legalHold,
    partial: r.partial,
  };
}

const ID_QUERY = /^[A-Za-z0-9_-]{1,64}$/;

/** GET handler listing recordings with the staff or the patient cookie. */
function listRoute(ctx: RouteContext, as: 'staff' | 'patient'): RequestHandler {
  const list = oneCall(ctx, {
    client: 'recording',
    method: 'listRecordings',
    request: ({ req, violations }) => {
      const visit = queryText(req, 'visit');
      if (visit !== '' && !ID_QUERY.test(visit))
        violations.push({ field: 'visit', description: 'must be a visit id' });
      return recording.ListRecordingsRequest.fromPartial({
        pageSize: 50,
        pageToken: queryText(req, 'pageToken'),
        ...(visit ? { visit: `visits/${visit}` } : {}),
      });
    },
    view: (r): RecordingPageView => ({
      recordings: r.recordings.map(recordingListView),
      nextPageToken: r.nextPageToken,
    }),
  });
  return async (req, res) => {
    const auth = await authenticate(ctx, req, res, as === 'staff' ? COOKIES.access : COOKIES.patient);
    if (!auth) return;
    try {
      await list(req, res, auth);
    } catch (err) {
      ctx.logCallFailure(res, 'recording.ListRecordings', err);
      send(res, httpErrorFromGrpc(err));
    }
  };
}

/** Registers the list and playback routes on the /api router. */
export function registerRecordingRoutes(api: Router, ctx: RouteContext): void {
  api.get('/recordings', listRoute(ctx, 'staff'));
  api.get('/patient/recordings', listRoute(ctx, 'patient'));
  api.post(
    '/recordings/:id/playback',
    route(ctx, 'recording.PlayRecording', async (req, res, auth, id) => {
      const body = asRecord(req.body);
      const given = typeof body['purpose'] === 'string' ? body['purpose'] : '';
      const purpose =
        choiceOf(PURPOSES, given) ??
        (auth.principal.kind === 'patient'
          ? phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_PATIENT_REQUEST
          : phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_TREATMENT);
      const r = await ctx.call(
        res,
        auth.token,
        ctx.clients.recording!,
        'playRecording',
        recording.PlayRecordingRequest.fromPartial({ name: `recordings/${id}`, purpose }),
      );
      const grant: PlaybackGrantView = {
        url: r.playbackUrl,
        expireTime: r.expireTime?.toISOString() ?? null,
        contentType: r.contentType,
      };
      res.status(200).json(grant);
    }),
  );

  api.get(
    '/recordings/:id/media',
    route(ctx, 'recording.ReadRecordingMedia', async (req, res, auth, id) => {
      const grant = typeof req.query['grant'] === 'string' ? req.query['grant'] : '';
      if (!GRANT.test(grant)) {
        noteRefusal(res, { kind: 'permission', code: 'NO_PLAYBACK_GRANT', reason: 'no playback grant' });
        send(res, httpError('PERMISSION_DENIED'));
        return;
      }
      const requested = parseRangeHeader(req.headers.range);
      const aborted = new AbortController();
      res.once('close', () => aborted.abort());
      const ask = (offset: number, length: number) =>
        readMedia(
          ctx.clients.recording!,
          recording.ReadRecordingMediaRequest.fromPartial({
            name: `recordings/${id}`,
            grantToken: grant,
            offset: String(offset),
            length: String(length),
          }),
          ctx.metadataFor(res, auth.token),
          ctx.deadlineMs,
          aborted.signal,
        );
      // The first window also tells the size. A suffix range needs the size first: asking past the end answers
      // only the sizes, and nothing is viewed.
      const probe =
        requested.kind === 'from'
          ? await ask(requested.start, windowOf(requested))
          : requested.kind === 'none'
            ? await ask(0, PLAYBACK_WINDOW_BYTES)
            : await ask(Number.MAX_SAFE_INTEGER, 0);
      const total = Number(probe.head.totalSize);
      res.setHeader('accept-ranges', 'bytes');
      res.setHeader('content-type', probe.head.contentType || 'application/octet-stream');
      res.setHeader('cache-control', 'no-store');
      // Played in the page, never offered as a file to save (docs/adr/0019-recording-downloads.md).
      res.setHeader('content-disposition', 'inline');
      const range = resolveRange(requested, total, PLAYBACK_WINDOW_BYTES);
      if (range === undefined) {
        await drain(probe); // nothing was viewed past the end
        res.setHeader('content-range', unsatisfiedRange(total));
        res.status(416).end();
        return;
      }
      if (requested.kind === 'none') {
        await sendWhole(res, probe, total, ask);
        return;
      }
      const call =
        requested.kind === 'from' ? probe : (await drain(probe), await ask(range.offset, range.length));
      await sendRange(res, call, range, total);
    }),
  );
}

function windowOf(requested: { start: number; end?: number }): number {
  return requested.end === undefined
    ? PLAYBACK_WINDOW_BYTES
    : Math.min(PLAYBACK_WINDOW_BYTES, requested.end - requested.start + 1);
}

async function drain(call: MediaCall): Promise<void> {
  const it = call.data[Symbol.asyncIterator]();
  while (!(await it.next()).done);
}

async function sendRange(res: Response, call: MediaCall, range: ResolvedRange, total: number): Promise<void> {
  res.status(206);
  res.setHeader('content-range', contentRange(range, total));
  res.setHeader('content-length', String(range.length));
  let sent = 0;
  for await (const chunk of call.data) {
    const part = chunk.subarray(0, range.length - sent);
    await writeChunk(res, part);
    sent += part.length;
  }
  res.end();
}

/** No Range header: 200 with the whole media, window after window (each authenticated and recorded). */
async function sendWhole(
  res: Response,
  first: MediaCall,
  total: number,
  ask: (offset: number, length: number) => Promise<MediaCall>,
): Promise<void> {
  res.status(200);
  res.setHeader('content-length', String(total));
  let offset = 0;
  let call: MediaCall | undefined = first;
  while (call) {
    for await (const chunk of call.data) {
      await writeChunk(res, chunk);
      offset += chunk.length;
    }
    call = offset < total ? await ask(offset, PLAYBACK_WINDOW_BYTES) : undefined;
  }
  res.end();
}
