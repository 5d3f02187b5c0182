/**
 * An interpreter without an account joins a three-party video visit, end to end, in a private network namespace
 * (./support/visit-three-driver.ts): the clinician creates a one-time guest link for an interpreter; the
 * interpreter opens it in the browser, types the guest's own passcode (not the patient's), runs the device check
 * and waits in the waiting room as a lobby entry of their own, with their role, and gets no media before a host
 * admits them; once admitted, all three — clinician, patient, interpreter — see and hear each other, and every
 * page labels the two other tiles with their roles (and the clinician's name) from the server.
 */
import { join } from 'node:path';
import { netnsGate, runDriverOnce } from '@haven/testing';
import { STACK_DISPLAY_NAMES } from './support/stack';
import type { VisitThreeResult } from './support/visit-three-driver';

const DRIVER = join(__dirname, 'support', 'visit-three-driver.ts');

(netnsGate() ? describe : describe.skip)('an interpreter in a three-party video visit', () => {
  let result: VisitThreeResult;

  runDriverOnce<VisitThreeResult>(DRIVER, { timeoutMs: 150_000 }, (r) => {
    result = r;
    process.stderr.write(
      `visit-three: ${JSON.stringify(result.timings)}, clinician ${JSON.stringify(result.clinician)}, ` +
        `patient ${JSON.stringify(result.patient)}, interpreter ${JSON.stringify(result.interpreter)}, ` +
        `total ${result.totalMs} ms\n`,
    );
  });

  it('brings the interpreter in by a one-time link with its own passcode, through the patient page', () => {
    expect(result.guestJoin).toEqual({
      linkShape: true,
      passcodeDiffers: true,
      steps: ['passcode', 'check', 'waiting', 'visit'],
    });
  });

  it('gives the invited interpreter no media before admission, and a lobby entry of their own', () => {
    expect(result.beforeAdmission).toEqual({ mediaStatus: 403 });
    expect(result.lobbyEntry).toEqual({ kind: 'interpreter', state: 'lobby' });
  });

  it('shows the clinician the device check the interpreter’s page ran before the waiting room', () => {
    expect(result.deviceCheck).toEqual({ camera: true, microphone: true, permission: 'granted' });
  });

  it('lets all three see and hear each other once admitted', () => {
    for (const side of [result.clinician, result.patient, result.interpreter]) {
      expect(side).toMatchObject({ status: 'live', remoteFeeds: 2, feedsWithVideo: 2, feedsWithAudio: 2 });
    }
  });

  it('labels the other two on every page: the clinician by name and role, the patient never by name for a guest', () => {
    // The clinician's page here is the browser suites' test page, which holds no patient name.
    expect(result.clinician.labels).toEqual(['Interpreter', 'Patient']);
    const clinician = `${STACK_DISPLAY_NAMES.clinician} — clinician`;
    expect(result.patient.labels).toEqual([clinician, 'Interpreter']);
    // A link guest sees the staff by name, the patient by role only (the patient's name is PHI).
    expect(result.interpreter.labels).toEqual([clinician, 'Patient']);
  });
});
