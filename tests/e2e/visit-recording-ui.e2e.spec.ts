/**
 * Recording a visit through the real pages, end to end, in a private network namespace
 * (./support/recording-ui-driver.ts): the patient refuses a first request (the clinician's line says so at once)
 * and the clinician cancels a second; the clinician asks to record, the patient consents in a modal dialog, both
 * pages show the server-pushed indicator and acknowledge it; a second patient device arriving meanwhile is asked
 * in the waiting room and let in only once it consents; the clinician stops and sees the processing; the
 * encrypted recording plays back decrypted in Chromium for the clinician and for the patient (time advances,
 * frames decode, a seek lands, through range requests); the front desk is refused and the refusal is an event;
 * the auditor's ledger lists every viewer's views as "Recording viewed", with who (role and id) and which recording.
 * Screenshots: test-artifacts/screenshots/recording-NN-<step>.png.
 */
import { join } from 'node:path';
import { netnsGate, runDriverOnce } from '@haven/testing';
import type { Playback, RecordingUiResult } from './support/recording-ui-driver';

const DRIVER = join(__dirname, 'support', 'recording-ui-driver.ts');

function expectPlayed(p: Playback): void {
  expect(p.status).toBe(206);
  expect(p.contentType).toBe('video/webm');
  expect(p.ranges).toBeGreaterThanOrEqual(1);
  expect(p.videoWidth).toBeGreaterThan(0);
  expect(p.framesDecoded).toBeGreaterThan(5);
  // The time advances while it plays (or it reached the end of a short recording).
  expect(p.times[1] > p.times[0] || Math.abs(p.times[1] - p.duration) < 0.2).toBe(true);
  expect(Math.abs(p.seekedTo - p.seekTarget)).toBeLessThan(0.5);
  expect(p.framesAfterSeek).toBeGreaterThanOrEqual(0);
  expect(p.controlsList).toBe('nodownload'); // no download item in the player's menu (ADR 0019)
}

(netnsGate() ? describe : describe.skip)('recording a visit through the real pages', () => {
  let result: RecordingUiResult;

  runDriverOnce<RecordingUiResult>(DRIVER, { timeoutMs: 200_000 }, (r) => {
    result = r;
    process.stderr.write(
      `visit-recording-ui: total ${result.totalMs} ms, clinician ranges ${result.clinician.playback.ranges}, ` +
        `duration ${result.clinician.playback.duration.toFixed(1)} s, statuses after stop ` +
        `${JSON.stringify(result.clinician.statusesAfterStop)}\n`,
    );
  });

  it('tells the clinician at once that the patient refused (the role, no name), and cancels a request', () => {
    expect(result.clinician.statusAfterRefusal).toBe('Not recording: the patient refused consent.');
    expect(result.clinician.statusAfterCancel).toBe('Recording request cancelled.');
  });

  it('asks a device arriving during the recording in the waiting room; only consent lets it in', () => {
    expect(result.lateDevice.dialogTitle).toBe('This visit is being recorded');
    expect(result.lateDevice.admitStatus).toBe(409);
    expect(result.lateDevice.admitRefused).toBe(
      'This visit is being recorded: they can be admitted once they consent to the recording. ' +
        'They are asked in the waiting room.',
    );
    expect(result.lateDevice.stillWaiting).toBe(true);
    expect(result.lateDevice.indicator).toBe('Recording');
  });

  it('asks, waits for the patient’s consent given in a modal dialog, then records', () => {
    expect(result.clinician.statusAfterRecord).toBe('Recording requested: waiting for the patient’s consent');
    expect(result.patient.dialogTitle).toBe('May this visit be recorded?');
    expect(result.patient.dialogModal).toBe('true');
    expect(result.patient.focusedOnOpen).toBe('Give consent');
    expect(result.recordingId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('shows and announces the server-pushed indicator on both pages, and acknowledges it', () => {
    expect(result.clinician.indicator).toBe('Recording');
    expect(result.patient.indicator).toBe('Recording');
    expect(result.clinician.announced).toBe('Recording started. This visit is being recorded.');
    expect(result.patient.announced).toBe('Recording started. This visit is being recorded.');
    expect(result.acknowledgements).toBe(2);
    expect(result.cspViolations).toEqual([]);
  });

  it('plays the decrypted WebM for the clinician, with seeking', () => {
    expect(result.clinician.statusesAfterStop.at(-1)).toBe('Not recording');
    expect(result.clinician.listRow).toContain('Play');
    expectPlayed(result.clinician.playback);
  });

  it('plays it for the patient from their own page', () => {
    expect(result.patient.listRow).toContain('Play');
    expectPlayed(result.patient.playback);
  });

  it('refuses the front desk a grant and the list, and records the refusals', () => {
    expect(result.frontDesk).toMatchObject({ grantStatus: 403, listStatus: 403 });
    expect(result.frontDesk.refusalEvents).toBeGreaterThanOrEqual(2);
  });

  it('lists every viewer’s views in the auditor’s ledger: who watched which recording', () => {
    const views = result.audit.rows.filter((r) => r.event === 'Recording viewed');
    expect(views.every((r) => r.title === 'recording.v1.RecordingViewed')).toBe(true);
    expect(views.every((r) => r.about === `recordings/${result.recordingId}`)).toBe(true);
    // The clinician by role and id, the patient by id.
    expect(views.some((r) => /^clinician \S+$/.test(r.by))).toBe(true);
    expect(new Set(views.map((r) => r.by)).size).toBeGreaterThanOrEqual(2);
    expect(views.length).toBeGreaterThanOrEqual(2);
    const names = result.screenshots.map((f) => f.replace(/^.*\/recording-\d+-/, '').replace(/\.png$/, ''));
    expect(names).toEqual([
      'clinician-sees-refusal',
      'clinician-asks-to-record',
      'patient-consent-dialog',
      'patient-recording',
      'clinician-recording',
      'late-device-asked-in-waiting-room',
      'clinician-plays-recording',
      'patient-plays-recording',
      'auditor-sees-views',
    ]);
  });
});
