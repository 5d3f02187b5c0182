/**
 * The visit's media, end to end, through the REAL product pages, in a private network namespace: the whole stack
 * (nats-server, Janus with signed-token auth and the allow-list, identity, scheduling, session, audit, and the
 * gateway serving web/dist) as built processes, and two headless Chromiums on the gateway's URL. The front desk
 * signs in at `/`, registers a patient, books an appointment starting now with the demo clinician and reads the
 * link + passcode from the "Patient link" panel; the patient opens `/join#…`, enters the passcode, passes the
 * self-check and waits; the clinician signs in, opens the visit and joins the video (through the gateway's
 * /api/media and the session service's media proxy). Before admission the patient's browser gets no media
 * credential, a made-up one is refused by the proxy (403), a join straight at Janus with the real room and PIN
 * is refused by Janus (433) and no RTP arrives; after the clinician clicks Admit the patient's page moves to the
 * visit by itself and both sides decode video and receive audio (and the clinician's screen share); Remove stops
 * the patient's media and neither a new request nor the old credential gets back in; End visit destroys the room
 * (426) and both pages say the visit ended. A second device on the same link whose browser refuses the camera
 * and microphone is its own lobby entry and, once admitted, sees and hears the clinician without publishing.
 * In the visit the two pages chat (a message each way, markup shown as text) and the patient downloads a PDF the
 * clinician attached. The patient switches "Blur background" on (segmentation on their device, the wasm and the
 * model served by the gateway): the clinician's page keeps decoding their video, now visibly smoother; and when
 * Janus hangs the patient's publisher up (admin API, as after ICE failed for too long), the page publishes again
 * on a new camera track and what the clinician decodes is blurred again.
 * Screenshots of every step: test-artifacts/screenshots/visit-media-NN-<role>-<step>.png.
 */
import { join } from 'node:path';
import { netnsGate, runDriverOnce } from '@haven/testing';
import { STACK_DISPLAY_NAMES } from './support/stack';
import type { VisitMediaResult } from './support/visit-media-driver';

const DRIVER = join(__dirname, 'support', 'visit-media-driver.ts');

(netnsGate() ? describe : describe.skip)('in-visit media through the real pages and the whole stack', () => {
  let result: VisitMediaResult;

  runDriverOnce<VisitMediaResult>(DRIVER, { timeoutMs: 200_000 }, (r) => {
    result = r;
    process.stderr.write(
      `visit-media: stack ${result.timings['stack.total']} ms, front desk ${result.timings['frontDesk']} ms, ` +
        `patient to waiting room ${result.timings['patientToWaitingRoom']} ms, admit -> patient page ` +
        `${result.afterAdmission.admitToPatientPageMs} ms, admit -> first frame ` +
        `${result.afterAdmission.admitToFirstFrameMs} ms, blur on ${result.blur.startMs} ms ` +
        `(sharpness ${result.blur.sharpnessBefore.toFixed(1)} -> ${result.blur.sharpnessAfter.toFixed(1)}, ` +
        `${result.blur.framesAfter} frames, ${result.blur.fpsAfter.toFixed(1)} fps decoded, ` +
        `${result.blur.selfFps.toFixed(1)} fps self-view; after the publisher was ` +
        `rebuilt ${result.blur.rebuilt?.sharpness.toFixed(1)}, ${result.blur.rebuilt?.fps.toFixed(1)} fps), ` +
        `picture ${JSON.stringify(result.blur.picture)}, total ${result.totalMs} ms\n`,
    );
  });

  it('runs the front desk, the patient’s join and the clinician’s console on the real pages', () => {
    const { gatewayUrl, link, passcodeDigits } = result.frontDesk;
    expect(link).toMatch(new RegExp(`^${gatewayUrl.replace(/[.]/g, '\\.')}/join#[A-Za-z0-9_-]{20,}$`));
    expect(passcodeDigits).toBeGreaterThanOrEqual(4);
    expect(result.patientFlow.urlAfterOpen).toBe(`${gatewayUrl}/join`); // the token left the address bar
    expect(result.patientFlow.waitingText).toContain('Your clinician will let you in.');
    expect(result.clinicianSawLobby).toBe(true);
    expect(result.cspViolations).toEqual([]);
  });

  it('gives a patient who is not admitted no way into the room and no media', () => {
    const { mediaRequest, forgedJoin, rawForgedJoinCode, inboundSamples, patientStats, stillWaiting } =
      result.beforeAdmission;
    expect(mediaRequest).toMatchObject({
      status: 'error',
      errorCode: 403,
      message: 'You are not admitted to this visit.',
    });
    // A made-up media credential: the proxy refuses it. Straight at Janus, the real room number, PIN, a valid
    // Janus core token and a made-up room token: Janus refuses the join.
    expect(forgedJoin).toMatchObject({
      status: 'error',
      errorCode: 403,
      message: 'You are not admitted to this visit.',
    });
    expect(rawForgedJoinCode).toBe(433);
    expect(inboundSamples).toHaveLength(6);
    for (const s of inboundSamples) expect(s).toEqual({ bytes: 0, packets: 0, framesDecoded: 0, pcs: 0 });
    expect(patientStats.feeds).toEqual([]);
    expect(patientStats.totals).toEqual({
      framesDecoded: 0,
      videoBytesReceived: 0,
      audioPacketsReceived: 0,
      audioBytesReceived: 0,
    });
    expect(stillWaiting).toBe(true);
    expect(result.clinicianBeforeAdmission.status).toBe('live');
  });

  it('lets both sides see and hear each other after admission', () => {
    const a = result.afterAdmission;
    expect(a.patientMovedToVisit).toBe(true);
    expect(a.patientVisitStatus).toBe('Your clinician let you in.');
    expect(a.patient.totals.framesDecoded).toBeGreaterThan(5);
    expect(a.patient.totals.audioPacketsReceived).toBeGreaterThan(0);
    expect(a.clinician.totals.framesDecoded).toBeGreaterThan(5);
    expect(a.clinician.totals.audioPacketsReceived).toBeGreaterThan(0);
    expect(a.admitToFirstFrameMs).toBeLessThan(10_000);
    // Every POST the pages made carried the CSRF header, the media requests included.
    expect(result.csrf.missing).toBe(0);
    expect(result.csrf.media).toBeGreaterThanOrEqual(4);
    expect(result.csrf.ok).toBeGreaterThanOrEqual(result.csrf.media);
  });

  it('labels each side’s tile with the other’s name and role: the clinician’s for the patient, the patient’s for the clinician', () => {
    expect(result.afterAdmission.patientSeesTile).toBe(`${STACK_DISPLAY_NAMES.clinician} — clinician`);
    expect(result.afterAdmission.clinicianSeesTile).toBe('Robin Testpatient — patient');
  });

  it('shows the clinician’s screen share to the patient as a second feed', () => {
    expect(result.screenShare).toMatchObject({ started: true });
    expect(result.screenShare.patientScreenFrames).toBeGreaterThan(0);
  });

  it('publishes the patient’s blurred background (processed on their device) and the clinician still decodes it', () => {
    const b = result.blur;
    expect(b.error).toBeUndefined();
    expect(b.pressed).toBe('true');
    // The model came from the gateway (the netns has no other host to reach).
    expect(b.modelStatus).toBe(200);
    expect(b.framesAfter).toBeGreaterThanOrEqual(10);
    // The published picture is the processed one: the camera's sharp detail is gone from the clinician's view.
    expect(b.sharpnessBefore).toBeGreaterThan(0);
    expect(b.sharpnessAfter).toBeGreaterThan(0);
    expect(b.sharpnessAfter).toBeLessThan(b.sharpnessBefore * 0.8);
  });

  it('blurs again, with no word from the page, once Janus hung the patient’s publisher up and it published again', () => {
    const r = result.blur.rebuilt;
    expect(r).toMatchObject({
      hungUp: true,
      statuses: ['reconnecting', 'live'],
      pressed: 'true',
      notice: '',
    });
    expect(r?.frames).toBeGreaterThanOrEqual(10);
    // What the clinician decodes from the new peer connection is the processed picture, not the camera.
    expect(r?.sharpness).toBeGreaterThan(0);
    expect(r?.sharpness).toBeLessThan(result.blur.sharpnessBefore * 0.8);
  });

  it('replaces the patient’s background with the built-in light wall instead of the blur', () => {
    const p = result.blur.picture;
    expect(p).toMatchObject({ pressed: 'true', blurPressed: 'false' });
    // Before: the fake camera's green behind the patient; after: the wall (#e3ecec at the top), near enough.
    expect(p?.before[1]).toBeGreaterThan((p?.before[0] ?? 0) + 40);
    const [r = 0, g = 0, b = 0] = p?.after ?? [];
    expect({ r: Math.abs(r - 0xe3) < 40, g: Math.abs(g - 0xec) < 40, b: Math.abs(b - 0xec) < 40 }).toEqual({
      r: true,
      g: true,
      b: true,
    });
  });

  it('carries the chat both ways between the pages, markup as text, and a shared PDF to the patient', () => {
    expect(result.chat.error).toBeUndefined();
    expect(result.chat.patientSaw).toContain('Hello Robin, can you hear me? <b>not bold</b>');
    expect(result.chat.clinicianSaw).toContain('Yes, loud and clear.');
    expect(result.chat.fileName).toBe('Care plan.pdf');
    expect(result.chat.downloadOk).toBe(true);
  });

  it('lets a patient without camera or microphone in as a second device, seeing and hearing the clinician', () => {
    const n = result.noDevices;
    expect(n.selfCheckHelp).toContain('You can still go to the waiting room');
    expect(n.clinicianLobbyText).toContain('second device');
    expect(n.state).toMatchObject({ status: 'live', receiveOnly: true });
    expect(n.stats.totals.framesDecoded).toBeGreaterThan(5);
    expect(n.stats.totals.audioPacketsReceived).toBeGreaterThan(0);
    expect(n.pageMessage).toContain('you can see and hear the visit');
  });

  it('records the room only after the patient consents, into the recording’s own folder', () => {
    const r = result.recording;
    expect(r.error).toBeUndefined();
    expect(r.pending).toBe(true);
    expect(r.recordingId).toMatch(/^[0-9a-f-]{36}$/);
    // Janus names each track's file `videoroom-<room>-user-<feed>-<time>-<audio|video>-<mindex>.mjr`.
    const mjr = r.files.filter((f) => f.name.endsWith('.mjr'));
    expect(mjr.some((f) => /-audio-\d+\.mjr$/.test(f.name) && f.bytes > 1000)).toBe(true);
    expect(mjr.some((f) => /-video-\d+\.mjr$/.test(f.name) && f.bytes > 10_000)).toBe(true);
  });

  it('stops a kicked patient’s media and refuses their rejoin', () => {
    const k = result.kick;
    expect(k.patientState).toMatchObject({
      status: 'kicked',
      message: 'You have been removed from the visit.',
    });
    expect(k.patientPageMessage).toContain('You were removed from the visit.');
    expect(k.inboundDeltaAfterKick).toBe(0);
    expect(k.clinicianRemoteFeedsAfterKick).toBe(0);
    expect(k.pageRejoin).toMatchObject({ status: 'error', errorCode: 403 });
    expect(k.oldCredentialRejoin).toMatchObject({
      status: 'error',
      errorCode: 403,
      message: 'You are not admitted to this visit.',
    });
  });

  it('closes the room for everyone when the visit ends', () => {
    expect(result.end.clinicianState).toMatchObject({ status: 'ended', message: 'This visit has ended.' });
    expect(result.end.clinicianPageText).toBe('This visit has ended.');
    expect(result.end.clinicianEndedMessages).toBe(1);
    expect(result.end.patientPageMessage).toBe('Your visit has ended. Thank you.');
    expect(result.end.rawJoinCode).toBe(426);
    const names = result.screenshots.map((f) => f.replace(/^.*\/visit-media-\d+-/, '').replace(/\.png$/, ''));
    expect(names).toEqual([
      'front-desk-signed-in',
      'front-desk-booked',
      'front-desk-patient-link',
      'patient-passcode',
      'patient-self-check',
      'clinician-console-patient-waiting',
      'clinician-visit-lobby',
      'patient-waiting-room-not-admitted',
      'clinician-in-visit',
      'patient-in-visit',
      'clinician-chat',
      'patient-chat',
      'patient-background-blurred',
      'clinician-sees-blurred-background',
      'patient-background-picture',
      'clinician-sees-background-picture',
      'clinician-sharing-screen',
      'patient-sees-screen-share',
      'patient-without-devices',
      'patient-removed',
      'clinician-after-remove',
      'clinician-visit-ended',
      'patient-visit-ended',
    ]);
  });
});
