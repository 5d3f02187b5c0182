/**
 * gRPC handlers of RecordingService for the recording's metadata: validate the request (field violations),
 * check the caller (a clinician only the recordings of their own visits; the policy table keeps everyone else
 * but clinicians out), map the state to the API. Metadata only: no media, no PHI.
 */
import {
  NotFoundError,
  PermissionError,
  ValidationError,
  collectViolations,
  type FieldViolation,
} from '@haven/errors';
import { recording } from '@haven/proto';
import {
  bindHandlers,
  encodePageToken,
  idOfName,
  isPageKeyPair,
  keyPage,
  requirePrincipal,
  type CallContext,
  type Principal,
} from '@haven/service';
import { recordingAccess, type Caller } from './decide';
import type { RecordingProjection } from './projection';
import type { KnownRecording, RecordingState } from './recording';
import type { Recordings } from './recordings';

const { RecordingState: State } = recording;

/** Dependencies of the handlers. */
export interface RecordingGrpcDeps {
  readonly recordings: Recordings;
  readonly projection: RecordingProjection;
  /** The clinic lets patients list and play their own recordings (HAVEN_RECORDING_PATIENT_ACCESS). */
  readonly patientAccess?: boolean;
}

export function callerOf(principal: Principal): Caller {
  return {
    kind: principal.kind,
    id: principal.id,
    ...(principal.role !== undefined ? { role: principal.role } : {}),
  };
}

const STATE_OF = {
  recording: State.RECORDING_STATE_RECORDING,
  processing: State.RECORDING_STATE_PROCESSING,
  available: State.RECORDING_STATE_AVAILABLE,
  failed: State.RECORDING_STATE_FAILED,
  deleted: State.RECORDING_STATE_DELETED,
} as const satisfies Record<KnownRecording['status'], recording.RecordingState>;

const date = (iso: string | undefined): Date | undefined => (iso ? new Date(iso) : undefined);

/** The API view of a recording (metadata only). */
export function recordingToProto(state: KnownRecording, etag: string): recording.Recording {
  const media = state.status === 'available' ? state.media : undefined;
  const stateOf = STATE_OF as Record<string, recording.RecordingState>;
  return recording.Recording.fromPartial({
    name: `recordings/${state.recordingId}`,
    visit: `visits/${state.visitId}`,
    clinician: `users/${state.clinicianId}`,
    patient: `patients/${state.patientId}`,
    state: stateOf[state.status] ?? State.RECORDING_STATE_UNSPECIFIED,
    startTime: date(state.startTime),
    endTime: date(state.stopTime),
    ...(media
      ? {
          duration: {
            seconds: String(Math.floor(media.durationMs / 1000)),
            nanos: (media.durationMs % 1000) * 1_000_000,
          },
          contentType: media.contentType,
          sizeBytes: String(media.sizeBytes),
          keyId: media.keyId,
        }
      : {}),
    createTime: date(state.createdAt ?? state.startTime),
    legalHold: state.status !== 'deleted' && state.legalHold !== undefined,
    progressPercent: state.status === 'processing' ? (state.percent ?? 0) : 0,
    erasureBlocked: state.status !== 'deleted' ? (state.erasureBlocked ?? '') : '',
    partial: state.partial === true,
    deleteTime: state.status === 'deleted' ? date(state.deletedAt) : undefined,
    etag,
  });
}

/** Throws NotFoundError for a missing recording, PermissionError when the caller may not read it. */
export function requireReadable(state: RecordingState, principal: Principal, id: string): KnownRecording {
  if (state.status === 'none') throw new NotFoundError(`recording ${id} not found`);
  if (recordingAccess(state, callerOf(principal)) === 'none') {
    throw new PermissionError('only the clinician of the visit or an admin may see this recording');
  }
  return state;
}

async function getRecording(
  deps: RecordingGrpcDeps,
  request: recording.GetRecordingRequest,
  ctx: CallContext,
): Promise<recording.GetRecordingResponse> {
  const principal = requirePrincipal(ctx);
  const id = idOfName(request.name, 'name', 'recordings');
  const { state, etag } = await deps.recordings.load(id);
  return { recording: recordingToProto(requireReadable(state, principal, id), etag) };
}

interface ListQuery {
  readonly size: number;
  readonly visit?: string;
  /** Only this clinician's (a clinician's own; an admin's filter, when given). */
  readonly clinician?: string;
  readonly patient?: string;
  readonly states: ReadonlySet<recording.RecordingState>;
  readonly after?: readonly [string, string];
}

function optionalId(value: string, field: string, collection: string, violations: FieldViolation[]) {
  return value === '' ? undefined : collectViolations(violations, () => idOfName(value, field, collection));
}

/** The list a clinician asks for: validated, narrowed to their own recordings. */
function listQuery(request: recording.ListRecordingsRequest, principal: Principal): ListQuery {
  const violations: FieldViolation[] = [];
  const visit = optionalId(request.visit, 'visit', 'visits', violations);
  const clinician = optionalId(request.clinician, 'clinician', 'users', violations);
  const patient = optionalId(request.patient, 'patient', 'patients', violations);
  const known = new Set<number>(Object.values(STATE_OF));
  if (request.states.some((s) => !known.has(s))) {
    violations.push({ field: 'states', description: 'unknown state' });
  }
  const states = new Set(request.states);
  const filter = ['recordings', principal.id, visit ?? '', patient ?? '', [...states].sort()];
  const page = collectViolations(violations, () =>
    keyPage(request, filter, { defaultSize: 50, maxSize: 100 }, isPageKeyPair),
  );
  if (violations.length > 0 || !page) throw new ValidationError(violations);
  const { size, after } = page;
  if (principal.kind === 'patient') {
    if (patient !== undefined && patient !== principal.id) {
      throw new PermissionError('a patient may list only their own recordings');
    }
    // A patient sees only what they could play: their own, available.
    return {
      size,
      ...(clinician !== undefined ? { clinician } : {}),
      patient: principal.id,
      states: new Set([State.RECORDING_STATE_AVAILABLE]),
      ...(visit !== undefined ? { visit } : {}),
      ...(after !== undefined ? { after } : {}),
    };
  }
  const admin = principal.role === 'admin';
  if (!admin && clinician !== undefined && clinician !== principal.id) {
    throw new PermissionError('a clinician may list only their own recordings');
  }
  const only = admin ? clinician : principal.id;
  return {
    size,
    ...(only !== undefined ? { clinician: only } : {}),
    states,
    ...(visit !== undefined ? { visit } : {}),
    ...(patient !== undefined ? { patient } : {}),
    ...(after !== undefined ? { after } : {}),
  };
}

/** Sort key, newest first: start time then id (both descending). */
const keyOf = (r: KnownRecording): readonly [string, string] => [r.startTime, r.recordingId];
const before = (a: readonly [string, string], b: readonly [string, string]): boolean =>
  a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

async function listRecordings(
  deps: RecordingGrpcDeps,
  request: recording.ListRecordingsRequest,
  ctx: CallContext,
): Promise<recording.ListRecordingsResponse> {
  const principal = requirePrincipal(ctx);
  const patient = principal.kind === 'patient';
  if (patient && deps.patientAccess !== true) {
    throw new PermissionError('this clinic does not let patients see their recordings');
  }
  if (
    !patient &&
    (principal.kind !== 'user' || (principal.role !== 'clinician' && principal.role !== 'admin'))
  ) {
    throw new PermissionError('only clinicians, admins and (when allowed) patients may list recordings');
  }
  const q = listQuery(request, principal);
  const matching = deps.projection
    .all()
    .filter((r) =>
      patient ? r.patientId === principal.id : recordingAccess(r, callerOf(principal)) !== 'none',
    )
    .filter((r) => q.clinician === undefined || r.clinicianId === q.clinician)
    .filter((r) => q.visit === undefined || r.visitId === q.visit)
    .filter((r) => q.patient === undefined || r.patientId === q.patient)
    .filter((r) => q.states.size === 0 || q.states.has(STATE_OF[r.status]))
    .sort((a, b) => (before(keyOf(a), keyOf(b)) ? 1 : -1))
    .filter((r) => q.after === undefined || before(keyOf(r), q.after));
  const page = matching.slice(0, q.size);
  const last = page[page.length - 1];
  const filter = ['recordings', principal.id, q.visit ?? '', q.patient ?? '', [...q.states].sort()];
  return {
    recordings: page.map((r) => recordingToProto(r, '')),
    nextPageToken: matching.length > q.size && last ? encodePageToken(filter, keyOf(last)) : '',
  };
}

/** The RecordingService handlers for the recording's metadata, by ts-proto method key. */
export function recordingHandlers(deps: RecordingGrpcDeps) {
  return bindHandlers(deps, { getRecording, listRecordings });
}
