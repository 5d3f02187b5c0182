/**
 * gRPC handlers of the access side: PlayRecording (a short-lived grant), ReadRecordingMedia (one authenticated,
 * audited byte range), PlaceLegalHold / ReleaseLegalHold and DeleteRecording (crypto-shredding). The data key
 * never leaves this service: the gateway receives plaintext ranges, each verified before its first byte is
 * sent and recorded (RecordingViewed + PhiAccessed) before that.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { openEncryptedObject } from '@haven/crypto';
import type { EventStore } from '@haven/eventstore';
import {
  ConcurrencyError,
  PermissionError,
  PreconditionError,
  UnavailableError,
  ValidationError,
} from '@haven/errors';
import type { recording } from '@haven/proto';
import { phiEvents } from '@haven/proto';
import {
  commandEvent,
  idOfName,
  bindHandlers,
  commandMetadata,
  requirePrincipal,
  type CallContext,
  type Principal,
} from '@haven/service';
import {
  DeletionReason,
  decideAccess,
  grantFor,
  type PlaceLegalHold,
  type RecordView,
  type ReleaseLegalHold,
  type Viewer,
} from '../recording/access';
import { recordingToProto } from '../recording/grpc';
import { recordingStream, type KnownRecording } from '../recording/recording';
import type { Recordings } from '../recording/recordings';
import { recordingContext, type RecordingKeys } from './keys';
import type { MediaObjects } from './objects';

/** Most plaintext bytes one ReadRecordingMedia call returns (the gateway asks again for the rest). */
export const MEDIA_WINDOW_BYTES = 1024 * 1024;
/** Bytes per stream message. */
const MESSAGE_BYTES = 64 * 1024;

export interface PlaybackDeps {
  readonly recordings: Recordings;
  /** Where the views are appended. */
  readonly store: Pick<EventStore, 'append'>;
  readonly objects: MediaObjects;
  readonly keys: RecordingKeys;
  /** The clinic lets patients play their own recordings (HAVEN_RECORDING_PATIENT_ACCESS). */
  readonly patientAccess: boolean;
  /** Lifetime of a playback grant. */
  readonly grantTtlMs: number;
  readonly clock?: () => Date;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** The viewer a principal is: a clinician user or a patient; anyone else is refused. */
function viewerOf(principal: Principal): Viewer {
  if (principal.kind === 'user' && principal.role === 'clinician') {
    return { name: `users/${principal.id}`, role: 'clinician' };
  }
  if (principal.kind === 'patient') return { name: `patients/${principal.id}`, role: 'patient' };
  throw new PermissionError('only the clinician of the visit or its patient may play a recording');
}

/** The purpose name of a PHI read. Throws ValidationError when it is missing or unknown. */
function purposeOf(purpose: phiEvents.PhiAccessPurpose, viewer: Viewer): string {
  const given =
    purpose === phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_UNSPECIFIED
      ? viewer.role === 'patient'
        ? phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_PATIENT_REQUEST
        : undefined
      : purpose;
  const name = given === undefined ? 'UNRECOGNIZED' : phiEvents.phiAccessPurposeToJSON(given);
  if (name === 'UNRECOGNIZED') {
    throw new ValidationError([
      { field: 'purpose', description: 'is required: why the recording is played' },
    ]);
  }
  return name;
}

async function playRecording(
  deps: PlaybackDeps,
  request: recording.PlayRecordingRequest,
  ctx: CallContext,
): Promise<recording.PlayRecordingResponse> {
  const viewer = viewerOf(requirePrincipal(ctx));
  const id = idOfName(request.name, 'name', 'recordings');
  const purpose = purposeOf(request.purpose, viewer);
  const token = randomBytes(32).toString('base64url');
  const expireTime = new Date((deps.clock?.() ?? new Date()).getTime() + deps.grantTtlMs);
  const result = await deps.recordings.command(
    id,
    {
      type: 'GrantPlayback',
      data: {
        viewer,
        grantId: randomUUID(),
        tokenSha256: sha256(token),
        purpose,
        expireTime: expireTime.toISOString(),
        patientAccess: deps.patientAccess,
        method: ctx.method,
      },
    },
    commandMetadata(ctx),
  );
  const state = result.state as KnownRecording & { status: 'available' };
  return {
    playbackUrl: `/api/recordings/${id}/media?grant=${token}`,
    token,
    expireTime,
    contentType: state.media.contentType,
  };
}

async function readRecordingMedia(
  deps: PlaybackDeps,
  request: recording.ReadRecordingMediaRequest,
  ctx: CallContext,
  send: (message: recording.ReadRecordingMediaResponse) => Promise<void>,
): Promise<void> {
  const viewer = viewerOf(requirePrincipal(ctx));
  const id = idOfName(request.name, 'name', 'recordings');
  const offset = Number(request.offset);
  const wanted = Number(request.length);
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(wanted) || wanted < 0) {
    throw new ValidationError([{ field: 'offset', description: 'offset and length must be non-negative' }]);
  }
  const tokenSha256 = sha256(request.grantToken);
  const now = (deps.clock?.() ?? new Date()).toISOString();
  const { state } = await deps.recordings.load(id);
  if (state.status === 'none')
    throw new PermissionError('no playback grant of this recording for the caller');
  grantFor(state, viewer, tokenSha256, now); // refuse before touching the key
  if (state.status !== 'available') {
    throw new PreconditionError(`the recording is ${state.status}`); // only in a race with a delete
  }
  const { media } = state;
  const object = await deps.objects.open(media.objectKey);
  try {
    const opened = await openEncryptedObject(deps.keys.kmsFor(id), object, {
      context: recordingContext(id),
      maxReadBytes: MEDIA_WINDOW_BYTES,
    });
    const total = opened.plaintextSize;
    const start = Math.min(offset, total);
    const length = Math.min(wanted === 0 ? total - start : wanted, total - start, MEDIA_WINDOW_BYTES);
    const range = { offset: String(start), totalSize: String(total), contentType: media.contentType };
    if (length === 0) {
      await send({ range: { ...range, length: '0' }, data: Buffer.alloc(0) });
      return;
    }
    // Every chunk of the window is authenticated before anything is recorded or sent.
    // (The buffer is not zeroed afterwards: grpc-js may serialize a message after `send` resolves.)
    const plaintext = await opened.read({ offset: start, length });
    await recordView(deps, ctx, state, {
      viewer,
      tokenSha256,
      now,
      offset: start,
      length,
      method: ctx.method,
    });
    await send({ range: { ...range, length: String(length) }, data: Buffer.alloc(0) });
    for (let at = 0; at < plaintext.length; at += MESSAGE_BYTES) {
      await send({ data: plaintext.subarray(at, at + MESSAGE_BYTES) });
    }
  } finally {
    await object.close();
  }
}

/**
 * Appends RecordingViewed + PhiAccessed to the recording's views stream (`recording.recording_views-<id>`: the
 * recording's own stream keeps only grants, holds and deletion, so loading it stays cheap however often it is
 * watched). Throws UnavailableError when the append fails: the caller then sends nothing.
 */
async function recordView(
  deps: PlaybackDeps,
  ctx: CallContext,
  state: KnownRecording,
  data: RecordView['data'],
): Promise<void> {
  const events = decideAccess({ type: 'RecordView', data }, state);
  const metadata = commandMetadata(ctx);
  try {
    await deps.store.append(
      recordingViewsStream(state.recordingId),
      'any',
      events.map((e) =>
        commandEvent(metadata, { type: e.type, data: e.data as unknown as Record<string, unknown> }),
      ),
    );
  } catch (error) {
    throw new UnavailableError('the view could not be recorded; nothing was sent', { cause: error });
  }
}

/** The stream of a recording's views (RecordingViewed, PhiAccessed). */
export function recordingViewsStream(recordingId: string): string {
  return `recording.recording_views-${recordingId}`;
}

function adminOnly(ctx: CallContext): void {
  const principal = requirePrincipal(ctx);
  if (principal.kind !== 'user' || principal.role !== 'admin') {
    throw new PermissionError('only an admin may do this');
  }
}

/** An admin places or releases a legal hold on the recording `name`; answers with the recording as it left it. */
async function onLegalHold(
  deps: PlaybackDeps,
  name: string,
  ctx: CallContext,
  command: PlaceLegalHold | ReleaseLegalHold,
): Promise<recording.PlaceLegalHoldResponse & recording.ReleaseLegalHoldResponse> {
  adminOnly(ctx);
  const id = idOfName(name, 'name', 'recordings');
  const r = await deps.recordings.command(id, command, commandMetadata(ctx));
  return { recording: recordingToProto(r.state as KnownRecording, String(r.nextRevision)) };
}

const placeLegalHold = (deps: PlaybackDeps, request: recording.PlaceLegalHoldRequest, ctx: CallContext) =>
  onLegalHold(deps, request.name, ctx, { type: 'PlaceLegalHold', data: { reason: request.reason } });

const releaseLegalHold = (deps: PlaybackDeps, request: recording.ReleaseLegalHoldRequest, ctx: CallContext) =>
  onLegalHold(deps, request.name, ctx, { type: 'ReleaseLegalHold', data: {} });

/**
 * Deletes a recording: `RecordingDeleted` first (no grant or read works after it), then the recording key is
 * destroyed (crypto-shredding) and the ciphertext removed. A crash between the two is finished by
 * {@link finishShredding} (the retention sweep calls it). Throws like the decider (FAILED_PRECONDITION under legal
 * hold or when already deleted).
 */
export async function deleteRecording(
  deps: Pick<PlaybackDeps, 'recordings' | 'objects' | 'keys'>,
  id: string,
  reason: DeletionReason,
  metadata: Parameters<Recordings['command']>[2],
): Promise<KnownRecording> {
  const r = await deps.recordings.command(id, { type: 'DeleteRecording', data: { reason } }, metadata);
  await finishShredding(deps, r.state as KnownRecording);
  return r.state as KnownRecording;
}

/** Destroys the key and the object of a DELETED recording (idempotent). */
export async function finishShredding(
  deps: Pick<PlaybackDeps, 'objects' | 'keys'>,
  state: KnownRecording,
): Promise<void> {
  await deps.keys.shred(state.recordingId);
  const objectKey = objectKeyOf(state);
  if (objectKey) await deps.objects.delete(objectKey);
}

function objectKeyOf(state: KnownRecording): string | undefined {
  return 'media' in state ? (state as { media: { objectKey: string } }).media.objectKey : undefined;
}

async function deleteRecordingRpc(
  deps: PlaybackDeps,
  request: recording.DeleteRecordingRequest,
  ctx: CallContext,
): Promise<recording.DeleteRecordingResponse> {
  adminOnly(ctx);
  const id = idOfName(request.name, 'name', 'recordings');
  if (request.etag !== '') {
    const { etag } = await deps.recordings.load(id);
    if (etag !== request.etag) throw new ConcurrencyError(recordingStream(id), request.etag, etag);
  }
  const state = await deleteRecording(deps, id, DeletionReason.Requested, commandMetadata(ctx));
  return { recording: recordingToProto(state, '') };
}

/** Unary handlers by ts-proto method key. */
export function playbackHandlers(deps: PlaybackDeps) {
  return bindHandlers(deps, {
    playRecording,
    placeLegalHold,
    releaseLegalHold,
    deleteRecording: deleteRecordingRpc,
  });
}

/** Server-streaming handlers by ts-proto method key. */
export function playbackStreams(deps: PlaybackDeps) {
  return bindHandlers(deps, { readRecordingMedia });
}
