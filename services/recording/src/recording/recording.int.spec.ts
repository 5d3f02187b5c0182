/**
 * The recording lifecycle over a real nats-server, in process: the session's RecordingStarted registers a
 * recording, RecordingStopped moves it to PROCESSING (a repeated delivery changes nothing; without a
 * recordings directory processing then fails with NO_RAW_FILES); GetRecording and
 * ListRecordings answer the visit's clinician only, page newest first and filter by visit and patient.
 */
import * as grpc from '@grpc/grpc-js';
import type { JetStreamEventStore } from '@haven/eventstore';
import { newEvent, newEventId, type NewEvent } from '@haven/eventstore';
import { recording } from '@haven/proto';
import { accessRefusalStream, callUnary } from '@haven/service';
import { setupTestTelemetry } from '@haven/telemetry/testing';
import { failureOf, passesEventually } from '@haven/testing';
import { startRecordingSuite, type RecordingSuite } from '../../test/suite';

jest.setTimeout(60_000);

const { RecordingState } = recording;
let suite: RecordingSuite;
let client: recording.RecordingServiceClient;
let store: JetStreamEventStore;

beforeAll(async () => {
  suite = await startRecordingSuite();
  ({ client, store } = suite);
});

afterAll(async () => {
  await suite?.stop();
});

const as = (sub: string, role: string) => suite.as(sub, role);

/** An event of the session service's `type` (`RecordingStarted`…) with `data`. */
const sessionEvent = (type: string, data: Record<string, unknown>): NewEvent =>
  newEvent({ type: `haven.session.v1.${type}`, data, actor: { kind: 'service', id: 'session' } });

/** The session's events for a recording of visit `visit` by `clinician` (resource-name fields, as in the proto). */
async function recordVisit(
  id: string,
  visit: string,
  clinician: string,
  patient: string,
  startTime: string,
  stop = true,
): Promise<void> {
  const stream = `session.visit-${visit}`;
  const started = sessionEvent('RecordingStarted', {
    visit: `visits/${visit}`,
    recording: `recordings/${id}`,
    janusNode: 'janus-0',
    room: 1234,
    clinician: `users/${clinician}`,
    patient: `patients/${patient}`,
    startTime,
  });
  const events = [started];
  if (stop) {
    events.push(
      sessionEvent('RecordingStopped', {
        visit: `visits/${visit}`,
        recording: `recordings/${id}`,
        rawFilePrefix: `${id}/`,
        stopTime: new Date(Date.parse(startTime) + 60_000).toISOString(),
      }),
    );
  }
  const before = await store.read(stream);
  await store.append(stream, before.length === 0 ? 'no_stream' : BigInt(before.length - 1), events);
}

async function get(name: string, metadata: grpc.Metadata) {
  return (
    await callUnary(client, 'getRecording', recording.GetRecordingRequest.fromPartial({ name }), metadata)
  ).recording;
}

describe('a recording the session starts and stops', () => {
  it('is RECORDING, then PROCESSING (FAILED here: this service has no raw files), for the visit’s clinician', async () => {
    await recordVisit('rec-a1', 'visit-a1', 'clin-a', 'pat-1', '2026-12-06T10:00:00.000Z', false);
    const clinician = await as('clin-a', 'clinician');
    await passesEventually(async () =>
      expect((await get('recordings/rec-a1', clinician))?.state).toBe(
        RecordingState.RECORDING_STATE_RECORDING,
      ),
    );
    const stream = 'session.visit-visit-a1';
    const before = await store.read(stream);
    const stopped = sessionEvent('RecordingStopped', {
      visitId: 'visit-a1',
      recordingId: 'rec-a1',
      rawFilePrefix: 'rec-a1/',
    });
    // Delivered twice (a retry of the session's append): one PROCESSING, not two events.
    await store.append(stream, BigInt(before.length - 1), [stopped, { ...stopped, id: newEventId() }]);
    await passesEventually(async () => {
      const r = await get('recordings/rec-a1', clinician);
      expect(r).toMatchObject({
        name: 'recordings/rec-a1',
        visit: 'visits/visit-a1',
        clinician: 'users/clin-a',
        patient: 'patients/pat-1',
        state: RecordingState.RECORDING_STATE_FAILED,
      });
      expect(r?.startTime?.toISOString()).toBe('2026-12-06T10:00:00.000Z');
    });
    const own = await store.read('recording.recording-rec-a1');
    expect(own.map((e) => e.type)).toEqual([
      'haven.recording.v1.RecordingRegistered',
      'haven.recording.v1.RecordingProcessingStarted',
      'haven.recording.v1.RecordingProcessingFailed',
    ]);
    expect(own[1]?.causationId).toBe(stopped.id);
  });

  it('registers and processes in the session event’s trace, caused by it', async () => {
    const telemetry = setupTestTelemetry();
    try {
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const inTrace = (event: NewEvent, span: string): NewEvent => ({
        ...event,
        correlationId: 'visit-t1-correlation',
        traceparent: `00-${traceId}-${span}-01`,
      });
      const started = inTrace(
        sessionEvent('RecordingStarted', {
          visitId: 'visit-t1',
          recordingId: 'rec-t1',
          clinicianId: 'clin-t',
          patientId: 'pat-t',
          janusNode: 'janus-0',
          room: 1,
        }),
        '00f067aa0ba902b7',
      );
      const stopped = inTrace(
        sessionEvent('RecordingStopped', {
          visitId: 'visit-t1',
          recordingId: 'rec-t1',
          rawFilePrefix: 'rec-t1/',
        }),
        '00f067aa0ba902b8',
      );
      await store.append('session.visit-visit-t1', 'no_stream', [started, stopped]);
      // Registered, processing, then failed (no raw files here): each caused by the one before, one trace.
      await passesEventually(async () =>
        expect((await store.read('recording.recording-rec-t1')).length).toBe(3),
      );
      const [registered, processing, failed] = await store.read('recording.recording-rec-t1');
      for (const [own, cause] of [
        [registered, started],
        [processing, stopped],
        [failed, processing],
      ] as const) {
        expect(own).toMatchObject({
          traceparent: cause?.traceparent,
          correlationId: 'visit-t1-correlation',
          causationId: cause?.id,
        });
      }
      // The follower's spans are children of the session events' spans, one per event of the recording.
      await passesEventually(async () =>
        expect(
          telemetry
            .spans('haven.recording.follow_session')
            .filter((span) => span.spanContext().traceId === traceId)
            .map((span) => span.parentSpanContext?.spanId)
            .sort(),
        ).toEqual(['00f067aa0ba902b7', '00f067aa0ba902b8']),
      );
    } finally {
      await telemetry.shutdown();
    }
  });

  it('is marked partial when Janus stopped writing mid-recording (the media node was lost)', async () => {
    await recordVisit('rec-c1', 'visit-c1', 'clin-c', 'pat-3', '2026-12-06T12:00:00.000Z', false);
    const stream = 'session.visit-visit-c1';
    const before = await store.read(stream);
    await store.append(stream, BigInt(before.length - 1), [
      sessionEvent('RecordingStopped', {
        visit: 'visits/visit-c1',
        recording: 'recordings/rec-c1',
        rawFilePrefix: 'rec-c1/',
        reason: 'media_node_lost',
        partial: true,
      }),
    ]);
    const clinician = await as('clin-c', 'clinician');
    await passesEventually(async () =>
      expect(await get('recordings/rec-c1', clinician)).toMatchObject({
        state: RecordingState.RECORDING_STATE_FAILED,
        partial: true,
      }),
    );
    // A recording stopped normally is not.
    await passesEventually(async () =>
      expect(await get('recordings/rec-a1', await as('clin-a', 'clinician'))).toMatchObject({
        partial: false,
      }),
    );
  });

  it('shows the processing percent of a finishing recording, in Get and in List', async () => {
    // What a processor (another replica) appends while it works on the recording.
    const ev = (type: string, data: Record<string, unknown>): NewEvent => ({
      ...sessionEvent(type, data),
      type: `haven.recording.v1.${type}`,
      actor: { kind: 'service', id: 'recording' },
    });
    await store.append('recording.recording-rec-p1', 'no_stream', [
      ev('RecordingRegistered', {
        recordingId: 'rec-p1',
        visitId: 'visit-p1',
        clinicianId: 'clin-p',
        patientId: 'pat-p',
        janusNode: 'janus-0',
        room: 1,
        startTime: '2026-12-06T13:00:00.000Z',
      }),
      ev('RecordingProcessingStarted', {
        recordingId: 'rec-p1',
        rawFilePrefix: 'rec-p1/',
        stopTime: '2026-12-06T13:10:00.000Z',
        processor: 'another-replica',
      }),
      ev('RecordingProcessingProgressed', { recordingId: 'rec-p1', percent: 40 }),
    ]);
    const clinician = await as('clin-p', 'clinician');
    await passesEventually(async () =>
      expect(await get('recordings/rec-p1', clinician)).toMatchObject({
        state: RecordingState.RECORDING_STATE_PROCESSING,
        progressPercent: 40,
      }),
    );
    const listed = await callUnary(
      client,
      'listRecordings',
      recording.ListRecordingsRequest.fromPartial({ visit: 'visits/visit-p1' }),
      clinician,
    );
    expect(listed.recordings.map((r) => [r.name, r.progressPercent])).toEqual([['recordings/rec-p1', 40]]);
  });

  it('is refused to another clinician and unknown to a made-up name', async () => {
    await recordVisit('rec-b1', 'visit-b1', 'clin-b', 'pat-2', '2026-12-06T11:00:00.000Z');
    await passesEventually(async () =>
      expect(await get('recordings/rec-b1', await as('clin-b', 'clinician'))).toBeDefined(),
    );
    const other = await failureOf(get('recordings/rec-b1', await as('clin-a', 'clinician')));
    expect(other.code).toBe(grpc.status.PERMISSION_DENIED);
    const missing = await failureOf(get('recordings/nope', await as('clin-a', 'clinician')));
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
    const malformed = await failureOf(get('visits/rec-b1', await as('clin-a', 'clinician')));
    expect(malformed.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('is refused to the front desk by the policy, and the refusal is recorded', async () => {
    const refused = await failureOf(get('recordings/rec-b1', await as('fd-1', 'front_desk')));
    expect(refused.code).toBe(grpc.status.PERMISSION_DENIED);
    await passesEventually(async () => {
      const refusals = await store.read(accessRefusalStream('recording', new Date())).catch(() => []);
      expect(refusals.map((e) => e.data['method'])).toContain(
        '/haven.recording.v1.RecordingService/GetRecording',
      );
    });
  });
});

describe('listing recordings', () => {
  beforeAll(async () => {
    for (let i = 0; i < 5; i++) {
      await recordVisit(
        `rec-l${i}`,
        `visit-l${i % 2}`,
        'clin-l',
        `pat-l${i % 2}`,
        `2026-12-0${i + 1}T09:00:00.000Z`,
      );
    }
    await recordVisit('rec-lx', 'visit-lx', 'clin-other', 'pat-l0', '2026-12-09T09:00:00.000Z');
    const clinician = await as('clin-l', 'clinician');
    await passesEventually(async () => expect(await get('recordings/rec-l4', clinician)).toBeDefined());
    await passesEventually(async () =>
      expect(await get('recordings/rec-lx', await as('clin-other', 'clinician'))).toBeDefined(),
    );
  });

  const list = async (request: Partial<recording.ListRecordingsRequest>, sub = 'clin-l') =>
    callUnary(
      client,
      'listRecordings',
      recording.ListRecordingsRequest.fromPartial(request),
      await as(sub, 'clinician'),
    );

  it('pages the clinician’s own, newest first', async () => {
    const names: string[] = [];
    let pageToken = '';
    for (;;) {
      const page = await list({ pageSize: 2, pageToken });
      names.push(...page.recordings.map((r) => r.name));
      if (page.nextPageToken === '') break;
      pageToken = page.nextPageToken;
    }
    expect(names).toEqual(['rec-l4', 'rec-l3', 'rec-l2', 'rec-l1', 'rec-l0'].map((id) => `recordings/${id}`));
  });

  it('filters by visit, patient and state', async () => {
    const byVisit = await list({ visit: 'visits/visit-l1' });
    expect(byVisit.recordings.map((r) => r.name)).toEqual(['recordings/rec-l3', 'recordings/rec-l1']);
    const byPatient = await list({ patient: 'patients/pat-l0' });
    expect(byPatient.recordings.map((r) => r.name)).toEqual([
      'recordings/rec-l4',
      'recordings/rec-l2',
      'recordings/rec-l0',
    ]);
    const available = await list({ states: [RecordingState.RECORDING_STATE_AVAILABLE] });
    expect(available.recordings).toEqual([]);
  });

  it('lets an admin list anyone’s, by clinician', async () => {
    const all = await callUnary(
      client,
      'listRecordings',
      recording.ListRecordingsRequest.fromPartial({ clinician: 'users/clin-other' }),
      await as('adm-1', 'admin'),
    );
    expect(all.recordings.map((r) => r.name)).toEqual(['recordings/rec-lx']);
  });

  it('refuses another clinician’s list, a bad filter and a token of another query', async () => {
    expect((await failureOf(list({ clinician: 'users/clin-other' }))).code).toBe(
      grpc.status.PERMISSION_DENIED,
    );
    expect((await failureOf(list({ visit: 'visit-l1' }))).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await failureOf(list({ pageSize: 101 }))).code).toBe(grpc.status.INVALID_ARGUMENT);
    const first = await list({ pageSize: 1 });
    const other = await failureOf(
      list({ pageSize: 1, pageToken: first.nextPageToken, visit: 'visits/visit-l0' }),
    );
    expect(other.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('refuses a patient’s list while the clinic does not let patients see recordings', async () => {
    const patient = await suite.asPatient('pat-l0', 'apt-l0');
    const r = await failureOf(
      callUnary(client, 'listRecordings', recording.ListRecordingsRequest.fromPartial({}), patient),
    );
    expect(r.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(r.details).toMatch(/does not let patients/);
  });
});
