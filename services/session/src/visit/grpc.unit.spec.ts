/**
 * The visit commands' request_id (AIP-155), over the in-memory store and a Janus that records what it is asked:
 * a retry with the same key answers with the first result, appends nothing and touches Janus no more; the same
 * key with another request is refused; without a key a retry meets FAILED_PRECONDITION as before.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { PreconditionError } from '@haven/errors';
import { InMemoryEventStore, newEvent } from '@haven/eventstore';
import { session } from '@haven/proto';
import {
  createLogger,
  encodePageToken,
  RequestIdReusedError,
  type CallContext,
  type Principal,
} from '@haven/service';
import type { JanusPool } from '../janus/janus-pool';
import type { MediaAccess as MediaCredentials } from '../media/media-access';
import { visitHandlers } from './grpc';
import { visitStream } from './open-visit';
import { VisitProjection } from './projection';
import { participantIdOf } from './room-access';
import { VisitService } from './visit-service';

const VISIT = 'v-idem-1';
const clinician: Principal = { kind: 'user', id: 'clin-1', role: 'clinician', scopes: [] };
const patient: Principal = { kind: 'patient', id: 'pat-1', scopes: [], subjectOf: `visits/${VISIT}` };

function ctxOf(principal: Principal, method: string): CallContext {
  return {
    principal,
    metadata: new grpc.Metadata(),
    correlationId: randomUUID(),
    traceparent: undefined,
    deadline: undefined,
    signal: new AbortController().signal,
    method: `/haven.session.v1.SessionService/${method}`,
    peer: 'test',
    recordRefusal: () => undefined,
  };
}

async function setup(options: { recordingPolicy?: 'off' | 'on-request' | 'required' } = {}) {
  const store = new InMemoryEventStore();
  const janusCalls: string[] = [];
  const rooms = new Proxy(
    {},
    {
      // Every room call is recorded and succeeds (`then` stays undefined: the rooms are not a promise).
      get: (_t, prop: string) =>
        prop === 'then'
          ? undefined
          : prop === 'node'
            ? { id: 'janus-0', recordingsDir: '/recordings' }
            : async () => {
                janusCalls.push(prop);
              },
    },
  );
  const janus = {
    node: async () => rooms,
    release: () => undefined,
    nodeConfig: () => undefined,
  } as unknown as JanusPool;
  const visits = new VisitService({
    store,
    janus,
    roomKey: 'room-key-for-tests-only',
    media: {} as MediaCredentials,
    mediaUrl: 'http://127.0.0.1/api/media',
    onRefused: () => undefined,
    projection: new VisitProjection(),
    logger: createLogger({ service: 'session', level: 'silent' }),
    idleMinutes: 30,
    ...options,
  });
  await store.append(visitStream(VISIT), 'no_stream', [
    newEvent({
      type: 'haven.session.v1.VisitOpened',
      data: {
        visitId: VISIT,
        appointmentId: VISIT,
        clinicianId: 'clin-1',
        patientId: 'pat-1',
        janusNode: 'janus-0',
        room: 4242,
        startTime: '2030-01-01T10:00:00.000Z',
        endTime: '2030-01-01T10:30:00.000Z',
      },
      actor: { kind: 'service', id: 'session' },
    }),
  ]);
  const handlers = visitHandlers({ visits, projection: new VisitProjection(), clock: () => new Date() });
  await handlers.joinLobby(
    session.JoinLobbyRequest.fromPartial({ appointment: `appointments/${VISIT}` }),
    ctxOf(patient, 'JoinLobby'),
  );
  const types = async () =>
    (await store.read(visitStream(VISIT))).map((e) => e.type.replace('haven.session.v1.', ''));
  return { store, handlers, janusCalls, types };
}

const participant = `visits/${VISIT}/participants/${participantIdOf(patient)}`;

describe('AdmitParticipant with a request_id', () => {
  it('answers a retry with the first result, without a second event or a second Janus grant', async () => {
    const { handlers, janusCalls, types } = await setup();
    const requestId = randomUUID();
    const request = session.AdmitParticipantRequest.fromPartial({ name: participant, requestId });
    const first = await handlers.admitParticipant(request, ctxOf(clinician, 'AdmitParticipant'));
    const grants = janusCalls.length;
    const retry = await handlers.admitParticipant(request, ctxOf(clinician, 'AdmitParticipant'));
    expect(retry).toEqual(first);
    expect(janusCalls).toHaveLength(grants);
    expect(await types()).toEqual(['VisitOpened', 'PatientArrivedInLobby', 'ParticipantAdmitted']);
  });

  it('without a request_id, a retry is refused as before (FAILED_PRECONDITION)', async () => {
    const { handlers } = await setup();
    const request = session.AdmitParticipantRequest.fromPartial({ name: participant });
    await handlers.admitParticipant(request, ctxOf(clinician, 'AdmitParticipant'));
    await expect(
      handlers.admitParticipant(request, ctxOf(clinician, 'AdmitParticipant')),
    ).rejects.toBeInstanceOf(PreconditionError);
  });
});

describe('the other visit commands with a request_id', () => {
  it('lock, kick, consent and end: same key twice → same answer, one event; another request → refused', async () => {
    const { handlers, types } = await setup();
    const admit = session.AdmitParticipantRequest.fromPartial({ name: participant, requestId: randomUUID() });
    await handlers.admitParticipant(admit, ctxOf(clinician, 'AdmitParticipant'));

    const consentKey = randomUUID();
    const consent = (granted: boolean) =>
      handlers.recordConsent(
        session.RecordConsentRequest.fromPartial({
          visit: `visits/${VISIT}`,
          scope: session.ConsentScope.CONSENT_SCOPE_RECORDING,
          granted,
          requestId: consentKey,
        }),
        ctxOf(patient, 'RecordConsent'),
      );
    expect(await consent(true)).toEqual(await consent(true));
    await expect(consent(false)).rejects.toBeInstanceOf(RequestIdReusedError);

    const lock = session.LockVisitRequest.fromPartial({ name: `visits/${VISIT}`, requestId: randomUUID() });
    expect(await handlers.lockVisit(lock, ctxOf(clinician, 'LockVisit'))).toEqual(
      await handlers.lockVisit(lock, ctxOf(clinician, 'LockVisit')),
    );

    const kick = session.KickParticipantRequest.fromPartial({ name: participant, requestId: randomUUID() });
    expect(await handlers.kickParticipant(kick, ctxOf(clinician, 'KickParticipant'))).toEqual(
      await handlers.kickParticipant(kick, ctxOf(clinician, 'KickParticipant')),
    );
    await expect(
      handlers.kickParticipant({ ...kick, allowRejoin: true }, ctxOf(clinician, 'KickParticipant')),
    ).rejects.toBeInstanceOf(RequestIdReusedError);

    const end = session.EndVisitRequest.fromPartial({ name: `visits/${VISIT}`, requestId: randomUUID() });
    expect(await handlers.endVisit(end, ctxOf(clinician, 'EndVisit'))).toEqual(
      await handlers.endVisit(end, ctxOf(clinician, 'EndVisit')),
    );
    expect(await types()).toEqual([
      'VisitOpened',
      'PatientArrivedInLobby',
      'ParticipantAdmitted',
      'ConsentRecorded',
      'VisitLocked',
      'ParticipantKicked',
      'VisitEnded',
    ]);
  });
});

describe('StartRecording under the clinic’s recording policy', () => {
  it('is refused with FAILED_PRECONDITION when the policy is off: nothing appended, Janus untouched', async () => {
    const { handlers, janusCalls, types } = await setup({ recordingPolicy: 'off' });
    const before = janusCalls.length;
    await expect(
      handlers.startRecording({ visit: `visits/${VISIT}` }, ctxOf(clinician, 'StartRecording')),
    ).rejects.toThrow(/recording is off/);
    await expect(
      handlers.startRecording({ visit: `visits/${VISIT}` }, ctxOf(clinician, 'StartRecording')),
    ).rejects.toBeInstanceOf(PreconditionError);
    expect(janusCalls).toHaveLength(before);
    expect(await types()).toEqual(['VisitOpened', 'PatientArrivedInLobby']);
  });

  it('records by itself when the policy requires it: admission needs consent, the clinician’s arrival asks', async () => {
    const { handlers, janusCalls, types } = await setup({ recordingPolicy: 'required' });
    const admit = session.AdmitParticipantRequest.fromPartial({ name: participant });
    await expect(handlers.admitParticipant(admit, ctxOf(clinician, 'AdmitParticipant'))).rejects.toThrow(
      /consent/,
    );
    await handlers.recordConsent(
      session.RecordConsentRequest.fromPartial({
        visit: `visits/${VISIT}`,
        scope: session.ConsentScope.CONSENT_SCOPE_RECORDING,
        granted: true,
      }),
      ctxOf(patient, 'RecordConsent'),
    );
    await handlers.admitParticipant(admit, ctxOf(clinician, 'AdmitParticipant'));
    expect(janusCalls).not.toContain('setRecording');
    expect(await types()).not.toContain('RecordingStarted');
    // The clinician's arrival in the room (this setup has no media node for the credential that follows).
    await expect(
      handlers.joinMedia(
        session.JoinMediaRequest.fromPartial({ visit: `visits/${VISIT}` }),
        ctxOf(clinician, 'JoinMedia'),
      ),
    ).rejects.toThrow(/not configured/);
    expect((await types()).filter((t) => t.startsWith('Recording'))).toEqual([
      'RecordingRequested',
      'RecordingStarted',
    ]);
    expect(janusCalls).toContain('setRecording');
  });

  it('is refused to a patient (PERMISSION_DENIED before anything is read)', async () => {
    const { handlers, types } = await setup();
    await expect(
      handlers.startRecording({ visit: `visits/${VISIT}` }, ctxOf(patient, 'StartRecording')),
    ).rejects.toThrow(/only clinicians/);
    expect(await types()).toEqual(['VisitOpened', 'PatientArrivedInLobby']);
  });
});

describe('ListVisits for the front desk', () => {
  const frontDesk: Principal = { kind: 'user', id: 'desk-1', role: 'front_desk', scopes: [] };

  it('gives every clinician’s visits of the day with participants’ roles and states only', async () => {
    const { store } = await setup();
    const projection = new VisitProjection();
    for (const e of await store.read(visitStream(VISIT))) projection.apply(VISIT, e);
    const handlers = visitHandlers({
      visits: {} as VisitService,
      projection,
      clock: () => new Date('2030-01-01T09:00:00.000Z'),
    });
    const r = await handlers.listVisits(
      session.ListVisitsRequest.fromPartial({}),
      ctxOf(frontDesk, 'ListVisits'),
    );
    expect(r.visits).toHaveLength(1);
    const [v] = r.visits;
    expect(v).toMatchObject({ name: `visits/${VISIT}`, clinician: 'users/clin-1', patient: '' });
    expect(v!.participants).toEqual([
      session.Participant.fromPartial({
        role: session.ParticipantRole.PARTICIPANT_ROLE_PATIENT,
        state: session.ParticipantState.PARTICIPANT_STATE_WAITING,
      }),
    ]);
    // The desk may ask for one clinician's day (here one without visits).
    const other = await handlers.listVisits(
      session.ListVisitsRequest.fromPartial({ clinician: 'users/clin-2' }),
      ctxOf(frontDesk, 'ListVisits'),
    );
    expect(other.visits).toEqual([]);
  });
});

describe('ListLobby paging', () => {
  it('pages with 1–100 items (0: 50) and a token of the same lobby only', async () => {
    const { handlers } = await setup();
    const ctx = ctxOf(clinician, 'ListLobby');
    const list = (request: Partial<session.ListLobbyRequest>) =>
      handlers.listLobby(session.ListLobbyRequest.fromPartial({ visit: `visits/${VISIT}`, ...request }), ctx);
    const first = await list({ pageSize: 1 });
    expect(first.participants.map((p) => p.name)).toEqual([participant]);
    expect(first.nextPageToken).toBe('');
    expect((await list({})).participants).toHaveLength(1);
    await expect(list({ pageSize: 101 })).rejects.toMatchObject({
      violations: [{ field: 'page_size', description: 'must be between 1 and 100, or 0 for 50' }],
    });
    const otherLobby = encodePageToken(['lobby', 'v-other'], 1);
    await expect(list({ pageToken: otherLobby })).rejects.toMatchObject({
      violations: [{ field: 'page_token', description: 'is not a token of this query' }],
    });
  });
});
