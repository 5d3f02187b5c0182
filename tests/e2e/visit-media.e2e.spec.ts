/**
 * The visit's media, end to end, in a private network namespace: the whole stack (nats-server, Janus with
 * signed-token auth and the allow-list, identity, scheduling, session, audit, gateway as built processes) and two
 * headless Chromiums running web/public/visit.js. Front desk books and issues the link, the patient redeems it
 * and waits in the lobby. Before admission the patient's browser cannot get media credentials, a join with the
 * real room and PIN is refused by Janus (433) and no RTP arrives; after admission both sides decode video and
 * receive audio (and the clinician's screen share); a kick stops the patient's media and a rejoin is refused;
 * ending destroys the room (426). Screenshots go to test-artifacts/screenshots/visit-media-*.png.
 */
import { join } from 'node:path';
import { createNetns, netnsGate, runInNetns, type Netns } from '../support/netns';
import type { VisitMediaResult } from './support/visit-media-driver';

const DRIVER = join(__dirname, 'support', 'visit-media-driver.ts');

(netnsGate() ? describe : describe.skip)('in-visit media through the whole stack', () => {
  let ns: Netns;
  let result: VisitMediaResult;

  beforeAll(async () => {
    ns = await createNetns();
    result = await runInNetns<VisitMediaResult>(ns, DRIVER, {}, { timeoutMs: 80_000 });
    process.stderr.write(
      `visit-media: stack ${result.timings['stack.total']} ms, admit -> first frame ${result.afterAdmission.admitToFirstFrameMs} ms, total ${result.totalMs} ms\n`,
    );
  }, 90_000);

  afterAll(async () => {
    await ns?.destroy();
  });

  it('gives a patient who is not admitted no way into the room and no media', () => {
    const { mediaRequest, forgedJoin, inboundSamples } = result.beforeAdmission;
    expect(mediaRequest).toMatchObject({
      status: 'error',
      errorCode: 403,
      message: 'You are not admitted to this visit.',
    });
    // Real room number, real PIN, a valid Janus session token, a made-up room token: Janus refuses the join.
    expect(forgedJoin).toMatchObject({
      status: 'error',
      errorCode: 433,
      message: 'You are not admitted to this visit.',
    });
    expect(inboundSamples).toHaveLength(6);
    for (const s of inboundSamples) expect(s).toEqual({ bytes: 0, packets: 0, pcs: 0 });
    expect(result.clinicianBeforeAdmission.status).toBe('live');
  });

  it('lets both sides see and hear each other after admission', () => {
    const { patient, clinician, admitToFirstFrameMs } = result.afterAdmission;
    expect(patient.totals.framesDecoded).toBeGreaterThan(5);
    expect(patient.totals.audioPacketsReceived).toBeGreaterThan(0);
    expect(clinician.totals.framesDecoded).toBeGreaterThan(5);
    expect(clinician.totals.audioPacketsReceived).toBeGreaterThan(0);
    expect(admitToFirstFrameMs).toBeLessThan(10_000);
    // Every media request carried the CSRF header.
    expect(result.csrf.missing).toBe(0);
    expect(result.csrf.ok).toBeGreaterThanOrEqual(4);
  });

  it('shows the clinician’s screen share to the patient as a second feed', () => {
    expect(result.screenShare).toMatchObject({ started: true });
    expect(result.screenShare.patientScreenFrames).toBeGreaterThan(0);
  });

  it('stops a kicked patient’s media and refuses their rejoin', () => {
    const k = result.kick;
    expect(k.patientState).toMatchObject({
      status: 'kicked',
      message: 'You have been removed from the visit.',
    });
    expect(k.inboundDeltaAfterKick).toBe(0);
    expect(k.clinicianRemoteFeedsAfterKick).toBe(0);
    expect(k.pageRejoin).toMatchObject({ status: 'error', errorCode: 403 });
    expect(k.rawRejoinCode).toBe(433);
  });

  it('closes the room for everyone when the visit ends', () => {
    expect(result.end.clinicianState).toMatchObject({ status: 'ended', message: 'This visit has ended.' });
    expect(result.end.rawJoinCode).toBe(426);
    expect(result.screenshots).toHaveLength(4);
  });
});
