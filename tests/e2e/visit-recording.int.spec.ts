/**
 * Recording a visit, over the real services and a real Janus (no media flows: the Chromium suite records real
 * media): the consent gate (the clinician asks, every participant present consents, only then Janus records),
 * capture in Janus (the room's `record` switched with its secret, `rec_dir` = `<recordings dir>/<recording id>`,
 * read back with the test's privileged admin view), what stops it (the clinician, a withdrawal, the end of the
 * visit), the admission gate for a late joiner, and the attacks: a patient calling Start/StopRecording, a raw
 * Janus `enable_recording`/`edit` without the room secret, and a participant's own `configure record:true`.
 */
import type { EventEnvelope } from '@haven/eventstore';
import { scheduling, session } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import { eventually, joinExtras, MediaClient, mediaDoor, tokenOf } from '@haven/testing';
import * as grpc from '@grpc/grpc-js';
import { admit, endVisit, joinLobby } from './support/visit-flow';
import {
  admittedVisit,
  mediaSuite,
  type PrivilegedRoom,
  sessionRefusals,
  visitEvents,
  type AdmittedVisit,
} from '../security/support/visit-setup';

jest.setTimeout(120_000);

const suite = mediaSuite({ netns: false, audit: false }, 'visit-recording-test');

const md = (token: string) => clientCallMetadata({ token });

async function call<K extends keyof session.SessionServiceClient>(
  method: K,
  request: unknown,
  token: string,
): Promise<{ ok: true; value: unknown } | { ok: false; error: grpc.ServiceError }> {
  try {
    const value = await callUnary(suite.stack.clients.session, method as never, request as never, md(token));
    return { ok: true, value };
  } catch (error) {
    return { ok: false, error: error as grpc.ServiceError };
  }
}

const consent = (visit: string, token: string, granted: boolean) =>
  callUnary(
    suite.stack.clients.session,
    'recordConsent',
    session.RecordConsentRequest.fromPartial({
      visit,
      scope: session.ConsentScope.CONSENT_SCOPE_RECORDING,
      granted,
    }),
    md(token),
  );
const startRecording = (visit: string, token: string) =>
  callUnary(suite.stack.clients.session, 'startRecording', { visit }, md(token));
const stopRecording = (visit: string, token: string) =>
  callUnary(suite.stack.clients.session, 'stopRecording', { visit }, md(token));

/** The room as Janus lists it to an administrator (private rooms need the videoroom admin key). */
async function roomState(
  room: PrivilegedRoom,
): Promise<{ record: boolean; rec_dir?: string; lock_record: boolean } | undefined> {
  const data = await room.send({ request: 'list', admin_key: suite.stack.janus.adminSecret });
  const list =
    (data['list'] as { room: number; record: boolean; rec_dir?: string; lock_record: boolean }[]) ?? [];
  return list.find((r) => r.room === room.room);
}

const types = (events: EventEnvelope[]) => events.map((e) => e.type.replace('haven.session.v1.', ''));
const recordingEvents = (events: EventEnvelope[]) =>
  events.filter((e) => /Recording|Consent/.test(e.type)).map((e) => e.type.replace('haven.session.v1.', ''));

describe('the consent gate and capture', () => {
  let v: AdmittedVisit;
  let room: PrivilegedRoom;

  beforeAll(async () => {
    v = await admittedVisit(suite.stack);
    room = await suite.privileged(v.visitId);
  });

  it('creates the room locked for recording, not recording', async () => {
    expect(await roomState(room)).toMatchObject({ lock_record: true, record: false });
  });

  it('asks first: with the patient’s consent missing, StartRecording is a pending request and Janus records nothing', async () => {
    const r = await startRecording(v.visit, v.clinician.token);
    expect({ pending: r.pending, recording: r.recording, awaiting: r.awaitingConsent }).toEqual({
      pending: true,
      recording: '',
      awaiting: [v.participant],
    });
    expect(r.visit?.recordingRequested).toBe(true);
    expect((await roomState(room))?.record).toBe(false);
    expect(recordingEvents(await visitEvents(suite.store, v.visitId))).toEqual([
      'ConsentRecorded',
      'RecordingRequested',
    ]);
  });

  it('records once the patient consents: RecordingStarted, and Janus records into <dir>/<recording id>', async () => {
    await consent(v.visit, v.patientToken, true);
    const events = await visitEvents(suite.store, v.visitId);
    const started = events.find((e) => e.type === 'haven.session.v1.RecordingStarted');
    expect(started?.data).toMatchObject({
      visitId: v.visitId,
      room: v.room,
      consented: expect.arrayContaining([v.patientPid, v.clinicianPid]) as unknown,
    });
    const recordingId = String(started?.data['recordingId']);
    expect(recordingId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await roomState(room)).toMatchObject({
      record: true,
      lock_record: true,
      rec_dir: `${suite.stack.janus.recordingsDir}/${recordingId}`,
    });
    const visit = await callUnary(
      suite.stack.clients.session,
      'getVisit',
      { name: v.visit },
      md(v.clinician.token),
    );
    expect(visit.visit).toMatchObject({ recording: true, activeRecording: `recordings/${recordingId}` });
  });

  it('lets a participant present acknowledge the notice (an event)', async () => {
    const r = await callUnary(
      suite.stack.clients.session,
      'acknowledgeRecordingNotice',
      { visit: v.visit },
      md(v.patientToken),
    );
    expect(r.recording).toMatch(/^recordings\//);
    expect(types(await visitEvents(suite.store, v.visitId))).toContain('RecordingNoticeAcknowledged');
  });

  it('refuses a patient StartRecording and StopRecording, and records each refusal', async () => {
    for (const method of ['startRecording', 'stopRecording'] as const) {
      const r = await call(method, { visit: v.visit }, v.patientToken);
      expect([method, r.ok ? 'OK' : grpc.status[r.error.code]]).toEqual([method, 'PERMISSION_DENIED']);
    }
    const refusals = await eventually('both refusals recorded', async () => {
      const mine = (await sessionRefusals(suite.store)).filter((e) =>
        /SessionService\/(Start|Stop)Recording$/.test(String(e.data['method'])),
      );
      return mine.length >= 2 ? mine : undefined;
    });
    expect(refusals.map((e) => String(e.data['method']).split('/').pop()).sort()).toEqual([
      'StartRecording',
      'StopRecording',
    ]);
    expect((await roomState(room))?.record).toBe(true);
  });

  it('refuses enable_recording and edit straight on Janus without the room secret', async () => {
    const attacker = await suite.privileged(v.visitId);
    const off = await attacker.send({ request: 'enable_recording', room: v.room, record: false });
    expect(off['error_code']).toBeDefined();
    const unlock = await attacker.send({ request: 'edit', room: v.room, new_lock_record: false });
    expect(unlock['error_code']).toBeDefined();
    expect(await roomState(room)).toMatchObject({ record: true, lock_record: true });
  });

  it('refuses a participant’s own configure record:true through the media proxy', async () => {
    const m = await callUnary(
      suite.stack.clients.session,
      'joinMedia',
      { visit: v.visit },
      md(v.patientToken),
    );
    const c = await MediaClient.open(
      mediaDoor(m.serverUrl, {
        via: 'session',
        sessionHttpUrl: suite.stack.sessionHttpUrls[0] ?? '',
        bearer: v.patientToken,
      }),
      tokenOf(m),
    );
    suite.keep(c);
    expect((await c.create()).janus).toBe('success');
    const { handleId } = await c.attach();
    if (handleId === undefined) throw new Error('attach refused');
    const joined = await c.message(handleId, { request: 'join', ptype: 'publisher', ...joinExtras(m) });
    expect(joined.data['videoroom']).toBe('joined');
    const configured = await c.message(handleId, { request: 'configure', record: true });
    expect(configured.errorCode).toBeDefined();
  });

  it('refuses to admit a late joiner who has not consented, and admits them once they have', async () => {
    const link = v.linkUrl.split('#')[1] ?? '';
    const second = await callUnary(
      suite.stack.clients.scheduling,
      'redeemPatientLink',
      scheduling.RedeemPatientLinkRequest.fromPartial({ token: link, passcode: v.passcode }),
      clientCallMetadata({}),
    );
    const late = await joinLobby(suite.stack, { ...v, patientToken: second.accessToken });
    const refused = await admit(suite.stack, v.clinician, late).then(
      () => 'admitted',
      (error: grpc.ServiceError) => `${grpc.status[error.code]}: ${error.details}`,
    );
    expect(refused).toMatch(/^FAILED_PRECONDITION: .*being recorded.*consent/);
    await consent(v.visit, second.accessToken, true);
    await admit(suite.stack, v.clinician, late);
    const visit = await callUnary(
      suite.stack.clients.session,
      'getVisit',
      { name: v.visit },
      md(v.clinician.token),
    );
    expect(visit.visit?.participants.find((p) => p.name === late)).toMatchObject({
      state: session.ParticipantState.PARTICIPANT_STATE_ADMITTED,
      recordingConsented: true,
    });
    expect((await roomState(room))?.record).toBe(true);
  });

  it('stops at once when a participant withdraws consent', async () => {
    await consent(v.visit, v.patientToken, false);
    const events = await visitEvents(suite.store, v.visitId);
    const stopped = events.filter((e) => e.type === 'haven.session.v1.RecordingStopped');
    expect(stopped.at(-1)?.data).toMatchObject({ reason: 'consent_withdrawn', partial: false });
    expect(stopped.at(-1)?.data['rawFilePrefix']).toBe(`${String(stopped.at(-1)?.data['recordingId'])}/`);
    expect((await roomState(room))?.record).toBe(false);
  });
});

describe('stopping', () => {
  let v: AdmittedVisit;
  let room: PrivilegedRoom;

  beforeAll(async () => {
    v = await admittedVisit(suite.stack);
    room = await suite.privileged(v.visitId);
    await consent(v.visit, v.patientToken, true);
  });

  it('records at once when everyone present already consented, and stops when the clinician says so', async () => {
    const r = await startRecording(v.visit, v.clinician.token);
    expect(r.pending).toBe(false);
    expect(r.recording).toMatch(/^recordings\//);
    expect((await roomState(room))?.record).toBe(true);
    const s = await stopRecording(v.visit, v.clinician.token);
    expect(s.recording).toBe(r.recording);
    expect((await roomState(room))?.record).toBe(false);
    const stopped = (await visitEvents(suite.store, v.visitId)).find(
      (e) => e.type === 'haven.session.v1.RecordingStopped',
    );
    expect(stopped?.data).toMatchObject({ reason: 'stopped_by_clinician', partial: false });
  });

  it('refuses to stop when not recording', async () => {
    const r = await call('stopRecording', { visit: v.visit }, v.clinician.token);
    expect(r.ok ? 'OK' : grpc.status[r.error.code]).toBe('FAILED_PRECONDITION');
  });

  it('stops before the visit ends', async () => {
    await startRecording(v.visit, v.clinician.token);
    await endVisit(suite.stack, v.clinician, v.visit);
    const t = types(await visitEvents(suite.store, v.visitId));
    expect(t.slice(-2)).toEqual(['RecordingStopped', 'VisitEnded']);
    const last = (await visitEvents(suite.store, v.visitId)).at(-2);
    expect(last?.data).toMatchObject({ reason: 'visit_ended' });
  });
});
