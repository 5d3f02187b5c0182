/**
 * Recording through the gateway against the real services (identity, scheduling, session on a real nats-server
 * and Janus): the clinician asks to record over HTTP, every page of the visit hears `recording: requested` on the
 * live channel, the patient consents over HTTP, every page hears `on` (and a page that reads the visit sees it),
 * the patient acknowledges the notice (an event), the clinician stops and every page hears `off`. A refusal is
 * pushed to the clinician's page at once (the role, no name) and ends the request; the clinician cancels a pending
 * request. Attacks: the
 * patient's cookie on the clinician's recording routes, a malformed consent, an acknowledgement when nothing is
 * recorded. A device arriving during the recording without consent: the Admit is refused with the reason.
 */
import type { JetStreamEventStore } from '@haven/eventstore';
import type { CookieJar } from '../test/gateway';
import { admitPatient, redeemLink, waitingPatient, type BookedVisit } from '../test/gateway';
import { startStack } from '../test/stack';
import type { TestStack } from '../test/stack';

jest.setTimeout(120_000);

let stack: TestStack;
let store: JetStreamEventStore;
let clinician: string;

beforeAll(async () => {
  stack = await startStack();
  store = await stack.openStore('gateway-recording-test');
  await stack.createUser('desk@rec.test', 'front_desk', 'Front Desk');
  clinician = await stack.createUser('rhea@rec.test', 'clinician', 'Dr Rhea Stone');
});
afterAll(async () => stack?.stop());

const recordingMessage = (state: string) => (m: Record<string, unknown>) =>
  m['type'] === 'recording' && m['state'] === state;

describe('recording a visit through the gateway', () => {
  let desk: CookieJar;
  let rhea: CookieJar;
  let patient: CookieJar;
  let visitId: string;
  let link: BookedVisit;

  beforeAll(async () => {
    desk = await stack.signIn('desk@rec.test');
    rhea = await stack.signIn('rhea@rec.test');
    ({ visit: link, patient } = await waitingPatient(stack.url, desk, clinician, {
      name: 'Ines Alvarez',
      dateOfBirth: '1971-02-03',
    }));
    visitId = link.visitId;
    await admitPatient(stack.url, rhea, visitId);
    expect((await rhea.post(`${stack.url}/api/visits/${visitId}/media`, {})).status).toBe(200);
  });

  it('asks, records once the patient consents, notices every page, and stops', async () => {
    const staffSocket = await stack.liveSocket(rhea, false);
    const patientSocket = await stack.liveSocket(patient, true);

    const start = await rhea.post(`${stack.url}/api/visits/${visitId}/recording/start`, {});
    expect(start.status).toBe(200);
    const asked = (await start.json()) as {
      state: string;
      recordingId: string | null;
      awaitingConsent: string[];
    };
    expect(asked).toMatchObject({ state: 'requested', recordingId: null });
    expect(asked.awaitingConsent).toHaveLength(1);
    await patientSocket.waitFor(recordingMessage('requested'));
    await staffSocket.waitFor(recordingMessage('requested'));
    expect(await (await patient.fetch(`${stack.url}/api/patient/visit`)).json()).toMatchObject({
      recording: { state: 'requested', consented: false },
    });

    // A consent must say yes or no.
    expect(
      (await patient.post(`${stack.url}/api/patient/recording/consent`, { granted: 'yes' })).status,
    ).toBe(400);
    expect((await patient.post(`${stack.url}/api/patient/recording/consent`, { granted: true })).status).toBe(
      200,
    );
    const on = await patientSocket.waitFor(recordingMessage('on'));
    expect(await staffSocket.waitFor(recordingMessage('on'))).toEqual(on);
    expect(on['recordingId']).toMatch(/^[0-9a-f-]{36}$/);
    expect(await (await patient.fetch(`${stack.url}/api/patient/visit`)).json()).toMatchObject({
      recording: { state: 'on', recordingId: on['recordingId'], consented: true },
    });
    const staffView = (await (await rhea.fetch(`${stack.url}/api/visits/${visitId}`)).json()) as {
      visit: { recording: { state: string } };
    };
    expect(staffView.visit.recording.state).toBe('on');

    // A second device arriving during the recording has not consented: the clinician's Admit is refused,
    // and the answer says why (not the generic 409 message), without the service's own words.
    const late = await redeemLink(stack.url, link);
    expect((await late.post(`${stack.url}/api/patient/lobby`, {})).status).toBe(200);
    const roster = (await (await rhea.fetch(`${stack.url}/api/visits/${visitId}`)).json()) as {
      visit: { participants: { id: string; kind: string; state: string }[] };
    };
    const waiting = roster.visit.participants.find((p) => p.kind === 'patient' && p.state === 'lobby');
    const refusedAdmit = await rhea.post(`${stack.url}/api/visits/${visitId}/admit`, {
      participantId: waiting?.id,
    });
    expect(refusedAdmit.status).toBe(409);
    expect(await refusedAdmit.json()).toEqual({
      error: {
        code: 'FAILED_PRECONDITION',
        message:
          'This visit is being recorded: they can be admitted once they consent to the recording. ' +
          'They are asked in the waiting room.',
      },
    });

    const ack = await patient.post(`${stack.url}/api/patient/recording/ack`, {});
    expect(ack.status).toBe(200);
    expect(await ack.json()).toEqual({ recordingId: on['recordingId'] });
    const events = await store.read(`session.visit-${visitId}`);
    expect(events.filter((e) => e.type === 'haven.session.v1.RecordingNoticeAcknowledged')).toHaveLength(1);

    // The patient's cookie opens none of the clinician's recording routes.
    for (const path of ['start', 'stop', 'consent', 'ack']) {
      const res = await patient.post(`${stack.url}/api/visits/${visitId}/recording/${path}`, {
        granted: false,
      });
      expect([path, res.status]).toEqual([path, 401]);
    }

    expect((await rhea.post(`${stack.url}/api/visits/${visitId}/recording/stop`, {})).status).toBe(200);
    const off = await patientSocket.waitFor(recordingMessage('off'));
    expect(off).toMatchObject({
      recordingId: on['recordingId'],
      reason: 'stopped_by_clinician',
      partial: false,
    });
    await staffSocket.waitFor(recordingMessage('off'));

    // Nothing recorded: stopping again and acknowledging are refused (409).
    expect((await rhea.post(`${stack.url}/api/visits/${visitId}/recording/stop`, {})).status).toBe(409);
    expect((await patient.post(`${stack.url}/api/patient/recording/ack`, {})).status).toBe(409);
  });

  it('tells the clinician at once that the patient refused (role only), and lets the clinician cancel', async () => {
    const staffSocket = await stack.liveSocket(rhea, false);
    const patientSocket = await stack.liveSocket(patient, true);
    const ended = (reason: string) => (m: Record<string, unknown>) =>
      recordingMessage('off')(m) && m['reason'] === reason;
    const endedEvents = async () =>
      (await store.read(`session.visit-${visitId}`))
        .filter((e) => e.type === 'haven.session.v1.RecordingRequestEnded')
        .map((e) => e.data);

    // The patient's consent from the first recording is taken back (nothing is pending: no request ends).
    expect(
      (await patient.post(`${stack.url}/api/patient/recording/consent`, { granted: false })).status,
    ).toBe(200);
    // The patient refuses: the clinician's page hears it pushed, with the role and no name.
    const start = await rhea.post(`${stack.url}/api/visits/${visitId}/recording/start`, {});
    expect(await start.json()).toMatchObject({ state: 'requested' });
    await patientSocket.waitFor(recordingMessage('requested'));
    expect(
      (await patient.post(`${stack.url}/api/patient/recording/consent`, { granted: false })).status,
    ).toBe(200);
    const refused = await staffSocket.waitFor(ended('consent_refused'));
    expect(refused).toEqual({
      type: 'recording',
      visitId,
      state: 'off',
      reason: 'consent_refused',
      refusedBy: 'patient',
    });
    await patientSocket.waitFor(ended('consent_refused'));
    expect(JSON.stringify(staffSocket.messages)).not.toMatch(/Ines|Alvarez/);
    const afterRefusal = (await (await rhea.fetch(`${stack.url}/api/visits/${visitId}`)).json()) as {
      visit: { recording: { state: string } };
    };
    expect(afterRefusal.visit.recording.state).toBe('off');
    expect(await endedEvents()).toEqual([{ visitId, reason: 'consent_refused', refusedBy: 'patient' }]);

    // The clinician asks again and cancels: only they may, and only while it is pending.
    expect((await rhea.post(`${stack.url}/api/visits/${visitId}/recording/start`, {})).status).toBe(200);
    expect((await patient.post(`${stack.url}/api/visits/${visitId}/recording/cancel`, {})).status).toBe(401);
    expect((await rhea.post(`${stack.url}/api/visits/${visitId}/recording/cancel`, {})).status).toBe(200);
    await staffSocket.waitFor(ended('cancelled_by_clinician'));
    await patientSocket.waitFor(ended('cancelled_by_clinician'));
    expect((await rhea.post(`${stack.url}/api/visits/${visitId}/recording/cancel`, {})).status).toBe(409);
    expect(await endedEvents()).toEqual([
      { visitId, reason: 'consent_refused', refusedBy: 'patient' },
      { visitId, reason: 'cancelled_by_clinician', cancelledBy: `users/${clinician}` },
    ]);
    // The patient's late consent starts nothing: the request is gone.
    expect((await patient.post(`${stack.url}/api/patient/recording/consent`, { granted: true })).status).toBe(
      200,
    );
    const view = (await (await patient.fetch(`${stack.url}/api/patient/visit`)).json()) as {
      recording: { state: string };
    };
    expect(view.recording.state).toBe('off');
  });
});
