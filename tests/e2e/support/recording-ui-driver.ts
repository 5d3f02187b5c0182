/**
 * Recording a visit through the REAL pages, run INSIDE a network namespace by
 * tests/e2e/visit-recording-ui.e2e.spec.ts. The whole stack (./stack.ts) with the recording service (patients may
 * play their own recordings) and three headless Chromiums with fake devices on the gateway's URL. The front desk
 * books a visit starting now (gRPC, as visit-media.e2e proves the booking pages); the patient opens the link,
 * passes the self-check and waits; the clinician admits them. Then, only by clicks: the clinician presses
 * Record and the patient refuses (the clinician's line says so at once); Record again and Cancel request (the
 * patient's dialog closes); Record, the patient's page asks for consent in a dialog and the patient gives it, both
 * pages show the server-pushed "Recording" indicator; a second patient device arriving meanwhile is asked in the
 * waiting room, refuses and is not let in, consents and is let in (it shows the recording); the clinician stops, sees the processing and the recording in the visit's
 * list, and plays it: the decrypted WebM plays in the <video> (time advances, frames decode) and a seek lands.
 * The patient plays it from their page too. The front desk's browser is refused a grant and the list (and the
 * refusal is an event); the auditor's ledger lists the views with readable labels.
 * Prints one JSON line ({@link RecordingUiResult}). Screenshots: test-artifacts/screenshots/recording-*.png.
 */
import type { Page } from 'playwright-core';
import { JetStreamEventStore } from '@haven/eventstore';
import { accessRefusalStream } from '@haven/service';
import { eventually } from '@haven/testing';
import type { Stack } from './stack';
import { withStack } from './stack-run';
import { bookLink, waitForStats, waitForVisitState } from './visit-flow';
import {
  numberedShots,
  passcodeThenCheck,
  signIn,
  signOut,
  toWaitingRoom,
  waitForDom,
  watchCsp,
} from './visit-ui';
import { runDriver } from '../../support/driver';

/** How one page played the recording. */
export interface Playback {
  readonly status: number;
  readonly contentType: string;
  /** The <video>'s time after it played a while, and once more a second later. */
  readonly times: readonly [number, number];
  readonly videoWidth: number;
  readonly framesDecoded: number;
  readonly duration: number;
  /** Where a seek to `seekTarget` landed, and the frames decoded after it. */
  readonly seekTarget: number;
  readonly seekedTo: number;
  readonly framesAfterSeek: number;
  /** Range requests the <video> made (206 answers). */
  readonly ranges: number;
  /** The player's `controlslist` (downloads are not offered: ADR 0019). */
  readonly controlsList: string;
}

/** What the driver prints. */
export interface RecordingUiResult {
  readonly recordingId: string;
  readonly clinician: {
    /** The status line once the patient refused (pushed), and once the clinician cancelled a request. */
    readonly statusAfterRefusal: string;
    readonly statusAfterCancel: string;
    readonly statusAfterRecord: string;
    readonly indicator: string;
    readonly announced: string;
    readonly statusesAfterStop: string[];
    readonly listRow: string;
    readonly playback: Playback;
  };
  readonly patient: {
    readonly dialogTitle: string;
    readonly dialogModal: string | null;
    readonly focusedOnOpen: string;
    readonly indicator: string;
    readonly announced: string;
    readonly listRow: string;
    readonly playback: Playback;
  };
  /** A second patient device arriving while the visit is recorded. */
  readonly lateDevice: {
    readonly dialogTitle: string;
    /** The answer to the clinician's Admit while the device had refused, and what their page said. */
    readonly admitStatus: number;
    readonly admitRefused: string;
    readonly stillWaiting: boolean;
    readonly indicator: string;
  };
  readonly acknowledgements: number;
  readonly frontDesk: {
    readonly grantStatus: number;
    readonly listStatus: number;
    readonly refusalEvents: number;
  };
  readonly audit: { readonly rows: Array<{ event: string; by: string; about: string; title: string }> };
  readonly cspViolations: string[];
  readonly screenshots: string[];
  readonly totalMs: number;
}

/** Front desk (gRPC): a patient, an appointment starting in a minute with the clinician, and its link. */
async function book(st: Stack): Promise<{ patientId: string; link: string; passcode: string }> {
  const patient = { givenName: 'Maria', familyName: 'Lopez', dateOfBirth: '1975-09-30' };
  const booked = await bookLink(st, await st.login('front_desk'), await st.login('clinician'), {
    startInMinutes: 1,
    patient,
  });
  return { patientId: booked.patientId, link: booked.linkUrl, passcode: booked.passcode };
}

const text = async (page: Page, selector: string): Promise<string> =>
  ((await page.locator(selector).first().textContent()) ?? '').replace(/\s+/g, ' ').trim();

/** Waits for the clinician's status line to say `words`; a timeout says what it said instead. */
async function statusSays(page: Page, words: string, timeout = 30_000): Promise<string> {
  try {
    await page.locator('.rec-status', { hasText: words }).waitFor({ timeout });
  } catch (err) {
    const shown = await text(page, '.rec-status').catch(() => '(no status line)');
    throw new Error(`the status line did not say "${words}" within ${timeout} ms; it says "${shown}"`, {
      cause: err,
    });
  }
  return text(page, '.rec-status');
}

/** Plays the recording in the page's player: time advances, frames decode, a seek lands. */
async function play(page: Page, listRow: string): Promise<Playback> {
  let ranges = 0;
  let status = 0;
  let contentType = '';
  page.on('response', (r) => {
    if (!/\/api\/recordings\/[^/]+\/media\?grant=/.test(r.url())) return;
    status = r.status();
    contentType = r.headers()['content-type'] ?? '';
    if (r.status() === 206) ranges += 1;
  });
  await page
    .locator(listRow)
    .getByRole('button', { name: /^Play the recording/ })
    .click();
  const video = 'video.recordings-video';
  await waitForDom(
    page,
    `(() => { const v = document.querySelector('${video}'); return !!v && v.readyState >= 2 && v.currentTime > 0.5 && v.videoWidth > 0; })()`,
    'the recording plays',
    20_000,
  );
  const t1 = await page.evaluate<number>(`document.querySelector('${video}').currentTime`);
  await new Promise((r) => setTimeout(r, 1000));
  const probe = `(() => { const v = document.querySelector('${video}');
    return { t: v.currentTime, w: v.videoWidth, d: v.duration,
      f: v.getVideoPlaybackQuality().totalVideoFrames }; })()`;
  const after = await page.evaluate<{ t: number; w: number; d: number; f: number }>(probe);
  const seekTarget = Number.isFinite(after.d) && after.d > 2 ? Math.round((after.d / 2) * 10) / 10 : 1;
  const seekedTo = await page.evaluate<number>(`new Promise((resolve, reject) => {
    const v = document.querySelector('${video}');
    const timer = setTimeout(() => reject(new Error('no seeked event')), 10000);
    v.addEventListener('seeked', () => { clearTimeout(timer); resolve(v.currentTime); }, { once: true });
    v.currentTime = ${seekTarget};
  })`);
  const framesAtSeek = after.f;
  await new Promise((r) => setTimeout(r, 800));
  const late = await page.evaluate<{ t: number; w: number; d: number; f: number }>(probe);
  return {
    status,
    contentType,
    times: [t1, after.t],
    videoWidth: after.w,
    framesDecoded: after.f,
    duration: after.d,
    seekTarget,
    seekedTo,
    framesAfterSeek: late.f - framesAtSeek,
    ranges,
    controlsList: await page.evaluate<string>(
      `document.querySelector('${video}').getAttribute('controlslist') ?? ''`,
    ),
  };
}

async function main(): Promise<RecordingUiResult> {
  const t0 = Date.now();
  const { paths: shots, shot } = numberedShots('recording');
  const cspViolations: string[] = [];
  const run = {
    browsers: 3,
    stack: { recordingEnv: { HAVEN_RECORDING_PATIENT_ACCESS: 'true' } },
    failureLogs,
  } as const;
  return withStack(run, async ({ stack: st, browsers: [a, b, c], gatewayUrl: gw }) => {
    const { patientId, link, passcode } = await book(st);

    const staff = await a.context.newPage();
    const patient = await b.context.newPage();
    const other = await c.context.newPage();
    for (const p of [staff, patient, other]) {
      p.setDefaultTimeout(15_000);
      await p.setViewportSize({ width: 1100, height: 850 });
      watchCsp(p, cspViolations);
    }
    let acknowledgements = 0;
    for (const p of [staff, patient]) {
      p.on('response', (r) => {
        if (/\/recording\/ack$/.test(new URL(r.url()).pathname) && r.status() === 200) acknowledgements += 1;
      });
    }

    // ------------------------------------------------------------ into the visit
    const patientIn = (async () => {
      await patient.goto(link);
      await passcodeThenCheck(patient, passcode, ['network']);
      await toWaitingRoom(patient);
    })();
    await signIn(staff, gw, 'clinician');
    await staff.locator('#live-status', { hasText: 'Live updates on.' }).waitFor();
    await patientIn;
    await staff.locator('.badge-waiting', { hasText: '1 waiting' }).waitFor({ timeout: 10_000 });
    await staff
      .getByRole('button', { name: /^Open the visit/ })
      .first()
      .click();
    await staff.getByRole('button', { name: 'Join video' }).click();
    await waitForVisitState(staff, `s.status === 'live'`);
    await staff.getByRole('button', { name: /^Admit / }).click();
    await patient.locator('#step-visit').waitFor({ state: 'visible', timeout: 10_000 });
    await waitForStats(patient, (x) => x.totals.framesDecoded > 5, 'patient decodes video', 15_000);
    await waitForStats(staff, (x) => x.totals.framesDecoded > 5, 'clinician decodes video', 15_000);

    // ------------------------------------------------------------ a refusal, pushed; a cancel
    await staff.getByRole('button', { name: 'Record', exact: true }).click();
    await patient.getByRole('dialog').getByRole('button', { name: 'Refuse' }).click({ timeout: 10_000 });
    const statusAfterRefusal = await statusSays(staff, 'refused consent', 15_000);
    await shot(staff, 'clinician-sees-refusal');
    await staff.getByRole('button', { name: 'Record', exact: true }).click();
    await patient.getByRole('dialog').waitFor({ state: 'visible', timeout: 10_000 });
    await staff.getByRole('button', { name: 'Cancel request' }).click();
    const statusAfterCancel = await statusSays(staff, 'cancelled', 15_000);
    await patient.getByRole('dialog').waitFor({ state: 'detached', timeout: 15_000 });

    // ------------------------------------------------------------ ask, consent, record
    await staff.getByRole('button', { name: 'Record', exact: true }).click();
    const statusAfterRecord = await statusSays(staff, 'waiting for the patient’s consent');
    await shot(staff, 'clinician-asks-to-record');
    const dialog = patient.getByRole('dialog');
    await dialog.waitFor({ state: 'visible', timeout: 10_000 });
    const dialogTitle = await text(patient, '#rec-dialog-title');
    const dialogModal = await dialog.getAttribute('aria-modal');
    const focusedOnOpen = await patient.evaluate<string>('document.activeElement?.textContent ?? ""');
    await shot(patient, 'patient-consent-dialog');
    await dialog.getByRole('button', { name: 'Give consent' }).click();
    await patient.locator('.rec-indicator').waitFor({ state: 'visible', timeout: 10_000 });
    await staff.locator('.rec-indicator').waitFor({ state: 'visible', timeout: 10_000 });
    const recordingId = await eventually('the recording id', async () => {
      const body = await staff.evaluate<{ visits: Array<{ id: string }> }>(
        `fetch('/api/visits').then((r) => r.json())`,
      );
      const id = body.visits[0]?.id ?? '';
      const visit = await staff.evaluate<{ visit: { recording: { recordingId: string | null } } }>(
        `fetch('/api/visits/' + ${JSON.stringify(id)}).then((r) => r.json())`,
      );
      return visit.visit.recording.recordingId ?? undefined;
    });
    const clinicianAnnounced = await text(staff, '.rec [aria-live="assertive"]');
    const patientAnnounced = await text(patient, '.rec [aria-live="assertive"]');
    const clinicianIndicator = await text(staff, '.rec-indicator');
    const patientIndicator = await text(patient, '.rec-indicator');
    await shot(patient, 'patient-recording');
    await shot(staff, 'clinician-recording');
    const recordedFrom = Date.now();

    // ------------------------------------------------------------ a second patient device arrives meanwhile
    // It is asked in the waiting room; refusing keeps it out (the clinician's Admit is refused), consenting
    // lets it in, where the page shows the recording.
    const late = other;
    await late.goto(link);
    await late.getByLabel('Passcode').fill(passcode);
    await late.getByRole('button', { name: 'Continue' }).click();
    await late
      .getByRole('button', { name: 'Start the check' })
      .click()
      .catch(async (err: unknown) => {
        await shot(late, 'late-device-failure');
        const page = await text(late, 'main').catch(() => '');
        throw new Error(`${err instanceof Error ? err.message : String(err)}; the page said: ${page}`);
      });
    await late.locator('#check-network.ok').waitFor({ timeout: 10_000 });
    await toWaitingRoom(late);
    const lateDialog = late.getByRole('dialog');
    await lateDialog.waitFor({ state: 'visible', timeout: 10_000 });
    const lateDialogTitle = await text(late, '#rec-dialog-title');
    await shot(late, 'late-device-asked-in-waiting-room');
    await lateDialog.getByRole('button', { name: 'Refuse' }).click();
    await lateDialog.waitFor({ state: 'detached' });
    const admitLate = staff.locator('#lobby').getByRole('button', { name: /^Admit / });
    const refusedAdmit = staff.waitForResponse((r) => /\/admit$/.test(new URL(r.url()).pathname));
    await admitLate.click({ timeout: 10_000 });
    const lateAdmitStatus = (await refusedAdmit).status();
    await staff.locator('#visit-error').waitFor({ timeout: 15_000 });
    const lateAdmitRefused = await text(staff, '#visit-error');
    const lateStillWaiting = await late.locator('#step-waiting').isVisible();
    await late.getByRole('button', { name: 'Change your answer about recording' }).click();
    await lateDialog.getByRole('button', { name: 'Give consent' }).click();
    await lateDialog.waitFor({ state: 'detached' });
    await admitLate.click();
    await late.locator('#step-visit').waitFor({ state: 'visible', timeout: 10_000 });
    await late.locator('.rec-indicator').waitFor({ state: 'visible', timeout: 10_000 });
    const lateIndicator = await text(late, '.rec-indicator');
    await late.goto('about:blank'); // the device leaves; the front desk signs in on this browser later
    await c.context.clearCookies();
    // At least six seconds of the visit on record.
    await new Promise((r) => setTimeout(r, Math.max(0, 6000 - (Date.now() - recordedFrom))));

    // ------------------------------------------------------------ stop, processing, play (clinician)
    const statusesAfterStop: string[] = [];
    // One read at a time: on a loaded machine an older read could otherwise land after a newer one.
    let reading: Promise<void> | undefined;
    const readStatus = () =>
      text(staff, '.rec-status')
        .then((t) => {
          if (statusesAfterStop.at(-1) !== t) statusesAfterStop.push(t);
        })
        .catch(() => undefined);
    const watchStatus = setInterval(() => {
      if (reading) return;
      reading = readStatus().finally(() => (reading = undefined));
    }, 150);
    await staff.getByRole('button', { name: 'Stop recording' }).click();
    await patient.locator('.rec-indicator').waitFor({ state: 'detached', timeout: 10_000 });
    const clinicianRow = `#visit-recordings [data-recording="${recordingId}"]`;
    let listed = '';
    await eventually(
      'the recording to be playable',
      async () => {
        listed = await staff.evaluate<string>(`fetch('/api/recordings').then((r) => r.text())`);
        return listed.includes('"state":"available"');
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    ).catch(async (err: unknown) => {
      // What the recording service said about it (RecordingFailed names its reason).
      const es = await JetStreamEventStore.connect({ ...st.nats.operator, name: 'recording-ui-why' });
      const events = await es.read(`recording.recording-${recordingId}`).catch(() => []);
      await es.close();
      const told = JSON.stringify(events.map((e) => [e.type, e.data])).slice(-1200);
      throw new Error(
        `${err instanceof Error ? err.message : String(err)}; the list said ${listed}; ${told}`,
      );
    });
    await staff.locator(`${clinicianRow}[data-state="available"]`).waitFor({ timeout: 10_000 });
    await statusSays(staff, 'Not recording', 10_000);
    clearInterval(watchStatus);
    await reading;
    await readStatus();
    const clinicianListRow = await text(staff, clinicianRow);
    await staff.locator(clinicianRow).scrollIntoViewIfNeeded();
    const clinicianPlayback = await play(staff, clinicianRow);
    await staff.locator('video.recordings-video').scrollIntoViewIfNeeded();
    await shot(staff, 'clinician-plays-recording');

    // ------------------------------------------------------------ the patient plays their own
    const patientRow = `.recordings [data-recording="${recordingId}"]`;
    await patient.locator(`${patientRow}[data-state="available"]`).waitFor({ timeout: 30_000 });
    const patientListRow = await text(patient, patientRow);
    await patient.locator(patientRow).scrollIntoViewIfNeeded();
    const patientPlayback = await play(patient, patientRow);
    await patient.locator('video.recordings-video').scrollIntoViewIfNeeded();
    await shot(patient, 'patient-plays-recording');

    // ------------------------------------------------------------ the front desk is refused
    await signIn(other, gw, 'front_desk');
    const refused = await other.evaluate<{ grant: number; list: number }>(`(async () => {
      const csrf = decodeURIComponent((document.cookie.split('; ').find((x) => x.startsWith('haven_csrf=')) || '').slice(11));
      const grant = await fetch('/api/recordings/${recordingId}/playback', {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: '{}' });
      const list = await fetch('/api/recordings');
      return { grant: grant.status, list: list.status };
    })()`);
    const store = await JetStreamEventStore.connect({ ...st.nats.operator, name: 'recording-ui-driver' });
    let refusalEvents: number;
    try {
      refusalEvents = await eventually('the front desk’s refusal is an event', async () => {
        const events = await store.read(accessRefusalStream('recording', new Date())).catch(() => []);
        const n = events.filter((e) =>
          /RecordingService\/(PlayRecording|ListRecordings)$/.test(String(e.data['method'])),
        ).length;
        return n >= 2 ? n : undefined;
      });
    } finally {
      await store.close();
    }
    await signOut(other);

    // ------------------------------------------------------------ the auditor sees who watched
    await signIn(other, gw, 'auditor');
    await other.getByLabel(/Patient id/).fill(patientId);
    const rows = await eventually('the views are in the ledger', async () => {
      await other.getByRole('button', { name: 'Show entries' }).click();
      await new Promise((r) => setTimeout(r, 500));
      const found = await other.evaluate<Array<{ event: string; by: string; about: string; title: string }>>(
        `[...document.querySelectorAll('#ledger-rows tr')].map((tr) => {
          const td = tr.querySelectorAll('td');
          return { event: td[2]?.textContent ?? '', by: td[3]?.textContent ?? '',
            about: td[5]?.textContent ?? '', title: td[2]?.getAttribute('title') ?? '' };
        })`,
      );
      const viewers = new Set(found.filter((r) => r.event === 'Recording viewed').map((r) => r.by));
      return viewers.size >= 2 ? found : undefined;
    });
    await other.getByText('Recording viewed').first().scrollIntoViewIfNeeded();
    await shot(other, 'auditor-sees-views');

    return {
      recordingId,
      clinician: {
        statusAfterRefusal,
        statusAfterCancel,
        statusAfterRecord,
        indicator: clinicianIndicator,
        announced: clinicianAnnounced,
        statusesAfterStop,
        listRow: clinicianListRow,
        playback: clinicianPlayback,
      },
      patient: {
        dialogTitle,
        dialogModal,
        focusedOnOpen,
        indicator: patientIndicator,
        announced: patientAnnounced,
        listRow: patientListRow,
        playback: patientPlayback,
      },
      lateDevice: {
        dialogTitle: lateDialogTitle,
        admitStatus: lateAdmitStatus,
        admitRefused: lateAdmitRefused,
        stillWaiting: lateStillWaiting,
        indicator: lateIndicator,
      },
      acknowledgements,
      frontDesk: { grantStatus: refused.grant, listStatus: refused.list, refusalEvents },
      audit: { rows },
      cspViolations,
      screenshots: shots,
      totalMs: Date.now() - t0,
    };
  });
}

/** The services' last lines and the pipeline's complaints (withLogs adds the failure after them, once). */
function failureLogs(stack: Stack | undefined): string {
  const pipeline = (stack?.logs(400) ?? '')
    .split('\n')
    .filter((l) => /processing failed|could not finish/.test(l))
    .join('\n')
    .slice(-1500);
  return `${stack?.logs(15) ?? ''}\n${pipeline}`;
}

runDriver('recording-ui-driver', main);
