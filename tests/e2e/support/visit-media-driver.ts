/**
 * The in-visit media proof through the REAL product pages, run INSIDE a network namespace by
 * tests/e2e/visit-media.e2e.spec.ts. The whole stack (./stack.ts, gateway included) and two headless Chromiums
 * on the gateway's URL: the staff browser signs the front desk in at `/`, registers a patient, books an
 * appointment starting now with the demo clinician and reads the link + passcode from the "Patient link"
 * panel, then signs the clinician in, who opens the visit and joins the video; the patient browser opens
 * `/join#…`, enters the passcode, passes the self-check and waits. Everything after that is clicks on the
 * clinician's console (Admit, Share screen, Remove, End visit) and what the two pages do by themselves. The pages
 * reach media only through the gateway's /api/media (the session service's media proxy); the driver plays the
 * attacker with a made-up media credential, and straight at Janus with a valid core token, the room's PIN
 * (derived as the session service does) and a made-up room token.
 * Prints one JSON line ({@link VisitMediaResult}). Screenshots: test-artifacts/screenshots/visit-media-*.png.
 */
import type { BrowserContext, Page, Response } from 'playwright-core';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { session } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import { janusAdmin, type JanusHandle, janusSessions, signJanusToken } from '@haven/testing';
import { roomCredentials, roomNumberOf } from '../../../services/session/src/visit/open-visit';
import type { Stack } from './stack';
import { withStack } from './stack-run';
import {
  pageInbound,
  visitState,
  visitStats,
  waitForStats,
  waitForVisitState,
  type PageInbound,
  type VisitState,
  type VisitStats,
} from './visit-flow';
import { TRACK_PEER_CONNECTIONS } from './visit-pages';
import {
  bookThroughFrontDesk,
  numberedShots,
  CsrfWatcher,
  passcodeThenCheck,
  probeMedia,
  rawJoin,
  signIn,
  signOut,
  toWaitingRoom,
  waitForDom,
  watchCsp,
} from './visit-ui';
import { runDriver } from '../../support/driver';

/** The patient the front desk registers (synthetic). */
const PATIENT = { name: 'Robin Testpatient', dateOfBirth: '1980-04-12' } as const;

/** What the driver prints. */
export interface VisitMediaResult {
  readonly timings: Record<string, number>;
  readonly frontDesk: {
    /** The link read from the "Patient link" panel. */
    readonly link: string;
    readonly passcodeDigits: number;
    readonly gatewayUrl: string;
  };
  readonly patientFlow: {
    /** The address bar after opening the link (the token must be gone). */
    readonly urlAfterOpen: string;
    readonly waitingText: string;
  };
  readonly clinicianSawLobby: boolean;
  readonly beforeAdmission: {
    /** The patient's own media request from their page (refused by the gateway/session). */
    readonly mediaRequest: VisitState;
    /** The patient's page joining through the media proxy with a made-up media credential. */
    readonly forgedJoin: VisitState;
    /** Straight at Janus: the real room + PIN + a valid core token and a made-up room token; Janus's error code. */
    readonly rawForgedJoinCode: 'joined' | number;
    /** Inbound RTP over every peer connection of the patient page, sampled over a bounded window. */
    readonly inboundSamples: PageInbound[];
    /** HavenVisit.stats() of the patient page at the end of that window. */
    readonly patientStats: VisitStats;
    /** The patient's page is still the waiting room. */
    readonly stillWaiting: boolean;
  };
  readonly clinicianBeforeAdmission: VisitState;
  readonly afterAdmission: {
    readonly patientMovedToVisit: boolean;
    readonly patientVisitStatus: string;
    readonly patient: VisitStats;
    readonly clinician: VisitStats;
    readonly admitToFirstFrameMs: number;
    readonly admitToPatientPageMs: number;
    /** The main tile's caption on each page: the other side's name and role (the staff name from identity). */
    readonly patientSeesTile: string;
    readonly clinicianSeesTile: string;
  };
  readonly screenShare: { started: boolean; patientScreenFrames: number; error?: string };
  /**
   * The patient switches "Blur background" on: the clinician's page keeps decoding the patient's video, and the
   * picture it shows is smoother (mean horizontal pixel difference, sharpness) than the camera's was.
   */
  readonly blur: {
    readonly pressed: string | null;
    /** The patient's page: ms from the click to the toggle saying it is on (wasm + model load, first frame). */
    readonly startMs: number;
    readonly framesBefore: number;
    /** Frames of the patient's feed the clinician decoded within a bounded window after blur came on. */
    readonly framesAfter: number;
    readonly sharpnessBefore: number;
    readonly sharpnessAfter: number;
    /** The gateway's answer to the model file the page loaded (no other host is reachable in the netns). */
    readonly modelStatus: number;
    /**
     * Janus then hangs the patient's publisher up (the admin API's `hangup_webrtc`, as after ICE failed for too
     * long): whether Janus found it, the patient's page publishing again (a new capture, a new peer connection),
     * the toggle, the frames and sharpness of what the clinician decodes then, and the page's blur notice.
     */
    /** Frames a second of the patient's video the clinician decodes once blur is on. */
    readonly fpsAfter: number;
    /** Frames a second the patient's self-view (the processed track) shows right after blur came on. */
    readonly selfFps: number;
    /** The patient page's blur notice after those measures (empty while blur stays on). */
    readonly noticeAfter: string;
    readonly rebuilt: {
      hungUp: boolean;
      statuses: string[];
      pressed: string | null;
      frames: number;
      fps: number;
      sharpness: number;
      notice: string;
    } | null;
    /**
     * The patient then switches to the built-in background picture: the toggles, and the mean colour of a patch
     * near the top left of the clinician's main tile (background, not the person), before and after.
     */
    readonly picture: {
      pressed: string | null;
      blurPressed: string | null;
      before: number[];
      after: number[];
    } | null;
    readonly error?: string;
  };
  /**
   * The chat panel on both pages: the clinician's message as the patient's page shows it, the clinician's list
   * after the patient's reply, and a PDF the clinician attached, downloaded by the patient's browser.
   */
  readonly chat: {
    clinicianSaw: string;
    patientSaw: string;
    fileName: string;
    downloadOk: boolean;
    error?: string;
  };
  /** A second device on the same link whose camera and microphone are refused: it joins receive-only. */
  readonly noDevices: {
    readonly selfCheckHelp: string;
    readonly clinicianLobbyText: string;
    readonly state: VisitState;
    readonly stats: VisitStats;
    readonly pageMessage: string;
  };
  /**
   * Recording over the API with real media flowing (the pages' buttons come with the rebuilt web app): the
   * clinician asks (pending: the patient has not consented), the patient consents, a few seconds, the clinician
   * stops; the raw files Janus wrote into `<recordings dir>/<recording id>/`.
   */
  readonly recording: {
    readonly pending: boolean;
    readonly recordingId: string;
    readonly files: Array<{ name: string; bytes: number }>;
    readonly error?: string;
  };
  readonly kick: {
    readonly patientState: VisitState;
    readonly patientPageMessage: string;
    readonly inboundDeltaAfterKick: number;
    readonly pageRejoin: VisitState;
    /** The patient's page rejoining with the media credential it held before the kick. */
    readonly oldCredentialRejoin: VisitState;
    readonly clinicianRemoteFeedsAfterKick: number;
  };
  readonly end: {
    readonly clinicianState: VisitState;
    readonly clinicianPageText: string;
    /** How many times the clinician's page says "This visit has ended." */
    readonly clinicianEndedMessages: number;
    readonly patientPageMessage: string;
    readonly rawJoinCode: 'joined' | number;
  };
  readonly csrf: { ok: number; missing: number; media: number };
  readonly cspViolations: string[];
  readonly screenshots: string[];
  readonly totalMs: number;
}

interface MediaCreds {
  readonly serverUrl: string;
  readonly mediaCredential: string;
  readonly participantId: string;
}

/**
 * Page-side statements that draw the current frame of the main tile's video into a 320×240 canvas and leave
 * its 2D context in `ctx`; the enclosing function returns `noFrame` while the video has no frame.
 */
const drawMainTile = (noFrame: string): string => `
  const v = document.querySelector('.tile-main video');
  if (!v || !v.videoWidth) return ${noFrame};
  const c = document.createElement('canvas');
  c.width = 320;
  c.height = 240;
  const ctx = c.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(v, 0, 0, 320, 240);`;

/**
 * The sharpness of the main tile's video on `page`: the mean absolute difference of horizontally adjacent green
 * values over a 320×240 copy of the current frame; a blurred picture scores lower. -1 without a frame.
 */
async function mainTileSharpness(page: Page): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    samples.push(
      await page.evaluate<number>(`(() => {
        ${drawMainTile('-1')}
        const d = ctx.getImageData(0, 0, 320, 240).data;
        let sum = 0;
        for (let y = 0; y < 240; y++)
          for (let x = 1; x < 320; x++) {
            const at = (y * 320 + x) * 4 + 1;
            sum += Math.abs(d[at] - d[at - 4]);
          }
        return sum / (240 * 319);
      })()`),
    );
    await new Promise((r) => setTimeout(r, 300));
  }
  return samples.reduce((a, b) => a + b, 0) / samples.length;
}

/** Frames a second of one feed that `page` decodes, over 3 s. */
async function decodedRate(page: Page, frames: (s: VisitStats) => number): Promise<number> {
  const before = frames(await visitStats(page));
  await new Promise((r) => setTimeout(r, 3000));
  return (frames(await visitStats(page)) - before) / 3;
}

/** The mean RGB of a 32×32 patch near the top left of the main tile's video (in a 320×240 copy). */
function backgroundPatch(page: Page): Promise<number[]> {
  return page.evaluate<number[]>(`(() => {
    ${drawMainTile('[-1, -1, -1]')}
    const d = ctx.getImageData(24, 40, 32, 32).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) sum[k] += d[i + k];
    return sum.map((x) => Math.round(x / (d.length / 4)));
  })()`);
}

/** Frames a second the self-view's video element presents, over 3 s (requestVideoFrameCallback). */
function selfViewRate(page: Page): Promise<number> {
  return page.evaluate<number>(`new Promise((resolve) => {
    const v = document.querySelector('.tile-self video');
    if (!v || !v.requestVideoFrameCallback) return resolve(-1);
    let n = 0;
    const count = () => { n += 1; v.requestVideoFrameCallback(count); };
    v.requestVideoFrameCallback(count);
    setTimeout(() => resolve(n / 3), 3000);
  })`);
}

/**
 * Hangs up the PeerConnection of the videoroom publisher with feed id `feed` through Janus's admin API, as Janus
 * does by itself when ICE stays failed. True when Janus had such a publisher.
 */
async function hangUpPublisher(janus: JanusHandle, feed: number): Promise<boolean> {
  const admin = (msg: Record<string, unknown>) => janusAdmin(janus.adminWsUrl, janus.adminSecret, msg);
  for (const sessionId of await janusSessions(janus.adminWsUrl, janus.adminSecret)) {
    const listed = await admin({ janus: 'list_handles', session_id: sessionId });
    for (const handleId of (listed['handles'] as number[] | undefined) ?? []) {
      const info = await admin({ janus: 'handle_info', session_id: sessionId, handle_id: handleId });
      const plugin = (info['info'] as { plugin_specific?: { type?: string; id?: number } } | undefined)
        ?.plugin_specific;
      if (plugin?.type !== 'publisher' || plugin.id !== feed) continue;
      await admin({ janus: 'hangup_webrtc', session_id: sessionId, handle_id: handleId });
      return true;
    }
  }
  return false;
}

/**
 * Switches blur on from the patient's control bar and measures what the clinician's page receives; then Janus
 * hangs the patient's publisher up and the same is measured once the page has published again.
 */
async function blurBackground(
  patient: Page,
  staff: Page,
  janus: JanusHandle,
  shot: (page: Page, name: string) => Promise<void>,
): Promise<VisitMediaResult['blur']> {
  const out = {
    pressed: null as string | null,
    startMs: 0,
    framesBefore: 0,
    framesAfter: 0,
    sharpnessBefore: -1,
    sharpnessAfter: -1,
    modelStatus: 0,
    fpsAfter: 0,
    selfFps: 0,
    noticeAfter: '',
    rebuilt: null as VisitMediaResult['blur']['rebuilt'],
    picture: null as VisitMediaResult['blur']['picture'],
  };
  try {
    const camera = (x: VisitStats) => x.feeds.find((f) => f.description === 'camera')?.framesDecoded ?? 0;
    out.sharpnessBefore = await mainTileSharpness(staff);
    const model = patient.waitForResponse((r) => r.url().endsWith('.tflite'), { timeout: 60_000 });
    const toggle = patient
      .getByRole('toolbar', { name: 'Visit controls' })
      .getByRole('button', { name: /^Blur background/ });
    const t0 = Date.now();
    await toggle.click();
    out.modelStatus = (await model).status();
    await patient
      .getByRole('toolbar', { name: 'Visit controls' })
      .getByRole('button', { name: 'Blur background', pressed: true })
      .waitFor({ timeout: 60_000 });
    out.startMs = Date.now() - t0;
    out.pressed = await toggle.getAttribute('aria-pressed');
    out.selfFps = await selfViewRate(patient);
    out.framesBefore = camera(await visitStats(staff));
    const after = await waitForStats(
      staff,
      (x) => camera(x) >= out.framesBefore + 10,
      'the clinician decodes the blurred video',
      30_000,
    ).catch(() => visitStats(staff));
    out.framesAfter = camera(after) - out.framesBefore;
    out.sharpnessAfter = await mainTileSharpness(staff);
    out.fpsAfter = await decodedRate(staff, camera);
    out.noticeAfter = (await patient.locator('.visit-notice').textContent()) ?? '';
    await shot(patient, 'patient-background-blurred');
    await shot(staff, 'clinician-sees-blurred-background');

    // The publisher is rebuilt: Janus hangs its peer connection up; the page publishes again with a new camera
    // track, and the blur the patient switched on must be what goes out again.
    const feed = (await visitState(patient)).publisherId;
    const hungUp = feed !== null && (await hangUpPublisher(janus, feed));
    const statuses: string[] = [];
    if (hungUp) {
      statuses.push((await waitForVisitState(patient, `s.status === 'reconnecting'`, 10_000)).status);
      statuses.push((await waitForVisitState(patient, `s.status === 'live'`, 30_000)).status);
    }
    // The clinician subscribes to the published-again feed afresh: its frames count from zero.
    const again = await waitForStats(
      staff,
      (x) => camera(x) >= 10,
      'the clinician decodes the patient again',
      30_000,
    ).catch(() => visitStats(staff));
    out.rebuilt = {
      hungUp,
      statuses,
      pressed: await toggle.getAttribute('aria-pressed'),
      frames: camera(again),
      fps: await decodedRate(staff, camera),
      sharpness: await mainTileSharpness(staff),
      notice: (await patient.locator('.visit-notice').textContent()) ?? '',
    };

    // The built-in picture instead of the blur: the clinician sees a plain light wall behind the patient.
    const before = await backgroundPatch(staff);
    const picture = patient
      .getByRole('toolbar', { name: 'Visit controls' })
      .getByRole('button', { name: /^Background picture/ });
    await picture.click();
    await patient
      .getByRole('toolbar', { name: 'Visit controls' })
      .getByRole('button', { name: 'Background picture', pressed: true })
      .waitFor({ timeout: 30_000 });
    const shown = camera(await visitStats(staff));
    await waitForStats(
      staff,
      (x) => camera(x) >= shown + 6,
      'the clinician decodes the picture',
      20_000,
    ).catch(() => undefined);
    out.picture = {
      pressed: await picture.getAttribute('aria-pressed'),
      blurPressed: await toggle.getAttribute('aria-pressed'),
      before,
      after: await backgroundPatch(staff),
    };
    await shot(patient, 'patient-background-picture');
    await shot(staff, 'clinician-sees-background-picture');
    return out;
  } catch (err) {
    return { ...out, error: err instanceof Error ? err.message.slice(0, 300) : String(err) };
  }
}

const isMediaOk = (path: string) => (r: Response) =>
  r.request().method() === 'POST' && new URL(r.url()).pathname === path && r.status() === 200;

/** A cookie of a browser context (the pages' tokens), for the API calls the pages cannot make yet. */
async function cookieOf(context: BrowserContext, url: string, name: string): Promise<string> {
  // Every cookie of the context (the API cookies are scoped to a path under the gateway's origin).
  const value = (await context.cookies()).find((c) => c.name === name && url.includes(c.domain))?.value;
  if (!value) throw new Error(`no ${name} cookie`);
  return decodeURIComponent(value);
}

/** Records the visit for a few seconds over the session API, with the pages' own tokens. */
async function recordBriefly(
  st: Stack,
  visitId: string,
  tokens: { clinician: string; patient: string },
): Promise<VisitMediaResult['recording']> {
  const visit = `visits/${visitId}`;
  const md = (token: string) => clientCallMetadata({ token });
  const asked = await callUnary(st.clients.session, 'startRecording', { visit }, md(tokens.clinician));
  await callUnary(
    st.clients.session,
    'recordConsent',
    session.RecordConsentRequest.fromPartial({
      visit,
      scope: session.ConsentScope.CONSENT_SCOPE_RECORDING,
      granted: true,
    }),
    md(tokens.patient),
  );
  await new Promise((r) => setTimeout(r, 4000));
  const stopped = await callUnary(st.clients.session, 'stopRecording', { visit }, md(tokens.clinician));
  const recordingId = stopped.recording.replace('recordings/', '');
  const dir = join(st.janus.recordingsDir, recordingId);
  const files = readdirSync(dir).map((name) => ({ name, bytes: statSync(join(dir, name)).size }));
  return { pending: asked.pending, recordingId, files };
}

const text = async (page: Page, selector: string): Promise<string> =>
  ((await page.locator(selector).textContent()) ?? '').replace(/\s+/g, ' ').trim();

async function main(): Promise<VisitMediaResult> {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const { paths: shots, shot } = numberedShots('visit-media');
  const cspViolations: string[] = [];
  const csrf = new CsrfWatcher();
  return withStack({ browsers: 3 }, async ({ stack: st, browsers: [a, b, c], gatewayUrl: gw }) => {
    Object.assign(timings, Object.fromEntries(Object.entries(st.timings).map(([k, v]) => [`stack.${k}`, v])));

    await b.context.addInitScript(TRACK_PEER_CONNECTIONS);
    const staff = await a.context.newPage();
    const patient = await b.context.newPage();
    await staff.setViewportSize({ width: 1100, height: 800 });
    await patient.setViewportSize({ width: 900, height: 800 });
    for (const p of [staff, patient]) {
      p.setDefaultTimeout(15_000);
      watchCsp(p, cspViolations);
      csrf.watch(p);
    }

    // ------------------------------------------------------------ front desk: patient, booking, link
    const tDesk = Date.now();
    await staff.goto(gw);
    await signIn(staff, gw, 'front_desk');
    await shot(staff, 'front-desk-signed-in');
    const row = await bookThroughFrontDesk(staff, PATIENT);
    await shot(staff, 'front-desk-booked');
    await row.getByRole('button', { name: /Patient link/ }).click();
    await staff.locator('#link-panel').waitFor({ state: 'visible' });
    const link = await staff.locator('#link-url').inputValue();
    const passcode = await staff.locator('#link-passcode').inputValue();
    await shot(staff, 'front-desk-patient-link');
    await signOut(staff);
    timings['frontDesk'] = Date.now() - tDesk;

    // ------------------------------------------------------------ patient joins while the clinician signs in
    const tJoin = Date.now();
    const patientFlow = (async () => {
      await patient.goto(link);
      await patient.locator('#step-passcode').waitFor({ state: 'visible' });
      const urlAfterOpen = patient.url();
      await shot(patient, 'patient-passcode');
      await passcodeThenCheck(patient, passcode);
      await waitForDom(
        patient,
        `(document.getElementById('preview') || {}).videoWidth > 0`,
        'the self-check preview shows the camera',
      );
      await shot(patient, 'patient-self-check');
      await toWaitingRoom(patient);
      const waitingText = await text(patient, '#step-waiting');
      timings['patientToWaitingRoom'] = Date.now() - tJoin;
      return { urlAfterOpen, waitingText };
    })();
    const clinicianFlow = (async () => {
      await signIn(staff, gw, 'clinician');
      await staff.locator('#visits li').first().waitFor({ state: 'visible' });
      await staff.locator('#live-status', { hasText: 'Live updates on.' }).waitFor();
      timings['clinicianSignedIn'] = Date.now() - tJoin;
    })();
    const [pf] = await Promise.all([patientFlow, clinicianFlow]);

    // The console shows the waiting patient by itself; the clinician opens the visit and joins the video.
    const tClin = Date.now();
    await staff.locator('.badge-waiting', { hasText: '1 waiting' }).waitFor({ timeout: 10_000 });
    await shot(staff, 'clinician-console-patient-waiting');
    await staff
      .getByRole('button', { name: /^Open the visit/ })
      .first()
      .click();
    await staff.locator('#lobby li').first().waitFor({ state: 'visible' });
    const clinicianSawLobby = (await text(staff, '#lobby')).includes('is waiting');
    const clinMediaP = staff.waitForResponse(
      (r) =>
        r.request().method() === 'POST' &&
        /^\/api\/visits\/[^/]+\/media$/.test(new URL(r.url()).pathname) &&
        r.status() === 200,
    );
    await staff.getByRole('button', { name: 'Join video' }).click();
    const clinMedia = (await (await clinMediaP).json()) as MediaCreds;
    const clinicianBeforeAdmission = await waitForVisitState(
      staff,
      `s.status === 'live' || s.status === 'error'`,
    );
    if (clinicianBeforeAdmission.status !== 'live')
      throw new Error(`clinician could not join: ${JSON.stringify(clinicianBeforeAdmission)}`);
    timings['clinicianLive'] = Date.now() - tClin;
    await shot(staff, 'clinician-visit-lobby');

    // ------------------------------------------------------------ before admission
    const mediaRequest = await probeMedia(patient, '/api/patient/media');
    const visitId =
      /^\/api\/visits\/([^/]+)\/media$/.exec(new URL((await clinMediaP).url()).pathname)?.[1] ?? '';
    const room = roomNumberOf(visitId);
    const { pin } = roomCredentials(st.janusTokenSecret, visitId);
    const coreToken = signJanusToken({ secret: st.janusTokenSecret, expiresAt: Date.now() + 10 * 60_000 });
    // What a tampered page could try: the patient's media door with a credential of its own making.
    const forged = {
      serverUrl: '/api/media?as=patient',
      mediaCredential: `${clinMedia.mediaCredential.split('.')[0]}.${randomBytes(32).toString('base64url')}`,
      participantId: 'patient',
      iceServers: [],
    };
    await patient.route(`${gw}/api/test/forged-media`, (route) =>
      route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(forged) }),
    );
    const forgedJoin = await probeMedia(patient, '/api/test/forged-media');
    const rawForgedJoinCode = await rawJoin(st.janusWsUrl, {
      room,
      pin,
      token: randomBytes(24).toString('base64url'),
      coreToken,
    });
    const inboundSamples: PageInbound[] = [];
    for (let i = 0; i < 6; i++) {
      inboundSamples.push(await pageInbound(patient));
      if (i < 5) await new Promise((r) => setTimeout(r, 250));
    }
    const patientStatsBefore = await visitStats(patient);
    const stillWaiting = await patient.locator('#step-waiting').isVisible();
    await shot(patient, 'patient-waiting-room-not-admitted');

    // ------------------------------------------------------------ admission
    const patMediaP = patient.waitForResponse(isMediaOk('/api/patient/media'), { timeout: 15_000 });
    const tAdmit = Date.now();
    await staff.getByRole('button', { name: /^Admit / }).click();
    await patient.locator('#step-visit').waitFor({ state: 'visible', timeout: 10_000 });
    const admitToPatientPageMs = Date.now() - tAdmit;
    const patientMovedToVisit = await patient.locator('#step-visit').isVisible();
    const patientVisitStatus = await text(patient, '#visit-status');
    const patientMedia = (await (await patMediaP).json()) as MediaCreds;
    await waitForStats(patient, (x) => x.totals.framesDecoded > 0, 'patient decodes video', 15_000);
    const admitToFirstFrameMs = Date.now() - tAdmit;
    const patientStats = await waitForStats(
      patient,
      (x) => x.totals.framesDecoded > 5 && x.totals.audioPacketsReceived > 0,
      'patient decodes video and receives audio',
      15_000,
    );
    const clinicianStats = await waitForStats(
      staff,
      (x) => x.totals.framesDecoded > 5 && x.totals.audioPacketsReceived > 0,
      'clinician decodes video and receives audio',
      15_000,
    );
    timings['admitToFlowing'] = Date.now() - tAdmit;
    // The tiles' captions once each page read who the other is (a name comes with the visit read).
    const caption = async (page: Page) => {
      const tile = page.locator('.tile-main figcaption').filter({ hasText: ' — ' });
      await tile.waitFor({ timeout: 10_000 }).catch(() => undefined);
      return (await page.locator('.tile-main figcaption').first().textContent())?.trim() ?? '';
    };
    const patientSeesTile = await caption(patient);
    const clinicianSeesTile = await caption(staff);
    await staff.locator('#admitted li').first().waitFor({ state: 'visible' });
    await shot(staff, 'clinician-in-visit');
    await shot(patient, 'patient-in-visit');

    // ------------------------------------------------------------ chat: a message each way, a file shared
    const chat: VisitMediaResult['chat'] = {
      clinicianSaw: '',
      patientSaw: '',
      fileName: '',
      downloadOk: false,
    };
    try {
      const tChat = Date.now();
      await staff.getByRole('button', { name: /^Chat/ }).click();
      await staff
        .getByRole('textbox', { name: 'Message' })
        .fill('Hello Robin, can you hear me? <b>not bold</b>');
      await staff.getByRole('button', { name: 'Send', exact: true }).click();
      await patient.getByRole('button', { name: /^Chat, 1 unread/ }).click();
      const fromClinician = patient.locator('.chat-message').filter({ hasText: 'can you hear me' });
      await fromClinician.waitFor({ state: 'visible', timeout: 10_000 });
      chat.patientSaw = await text(patient, '.chat-message');
      await patient.getByRole('textbox', { name: 'Message' }).fill('Yes, loud and clear.');
      await patient.getByRole('textbox', { name: 'Message' }).press('Enter');
      await staff
        .locator('.chat-message')
        .filter({ hasText: 'loud and clear' })
        .waitFor({ state: 'visible', timeout: 10_000 });
      chat.clinicianSaw = await text(staff, '.chat-list');
      const pdf = Buffer.from(`%PDF-1.4\n% visit-media chat file ${randomBytes(8).toString('hex')}\n%%EOF\n`);
      await staff.locator('.chat-panel input[type=file]').setInputFiles({
        name: 'Care plan.pdf',
        mimeType: 'application/pdf',
        buffer: pdf,
      });
      const link = patient.locator('a.chat-file').filter({ hasText: 'Care plan.pdf' });
      await link.waitFor({ state: 'visible', timeout: 10_000 });
      chat.fileName = (await link.getAttribute('download')) ?? '';
      const [download] = await Promise.all([patient.waitForEvent('download'), link.click()]);
      const saved = await download.path();
      chat.downloadOk = saved !== null && readFileSync(saved).equals(pdf);
      timings['chat'] = Date.now() - tChat;
      await shot(staff, 'clinician-chat');
      await shot(patient, 'patient-chat');
    } catch (err) {
      chat.error = err instanceof Error ? err.message.slice(0, 300) : String(err);
    }

    // ------------------------------------------------------------ background blur (on the patient's device)
    const blur = await blurBackground(patient, staff, st.janus, shot);

    // ------------------------------------------------------------ screen share (a second feed)
    const screenShare: VisitMediaResult['screenShare'] = { started: false, patientScreenFrames: 0 };
    try {
      await staff
        .getByRole('toolbar', { name: 'Visit controls' })
        .getByRole('button', { name: 'Share screen' })
        .click();
      await waitForVisitState(staff, 's.sharing === true', 8000);
      screenShare.started = true;
      const sx = await waitForStats(
        patient,
        (x) => x.feeds.some((f) => f.description === 'screen' && f.framesDecoded > 0),
        'patient decodes the screen share',
        10_000,
      );
      screenShare.patientScreenFrames = sx.feeds.find((f) => f.description === 'screen')?.framesDecoded ?? 0;
      await shot(staff, 'clinician-sharing-screen');
      await shot(patient, 'patient-sees-screen-share');
    } catch (err) {
      screenShare.error = err instanceof Error ? err.message.slice(0, 300) : String(err);
    }

    // ------------------------------------------------------------ a second device without camera or microphone
    // The same link on another device whose browser refuses the camera and the microphone (as when the patient
    // says no): it is its own lobby entry, and once admitted it joins receive-only and sees and hears the
    // clinician.
    await c.context.addInitScript(`navigator.mediaDevices.getUserMedia = () =>
      Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));`);
    const bare = await c.context.newPage();
    bare.setDefaultTimeout(15_000);
    await bare.setViewportSize({ width: 375, height: 812 });
    watchCsp(bare, cspViolations);
    csrf.watch(bare);
    await bare.goto(link);
    await bare.getByLabel('Passcode').fill(passcode);
    await bare.getByRole('button', { name: 'Continue' }).click();
    await bare.getByRole('button', { name: 'Start the check' }).click();
    await bare.locator('#check-camera.bad').waitFor();
    await bare.locator('#check-network.ok').waitFor({ timeout: 10_000 });
    const selfCheckHelp = await text(bare, '#check-help');
    await toWaitingRoom(bare);
    await staff.locator('#lobby li').first().waitFor({ state: 'visible' });
    const clinicianLobbyText = await text(staff, '#lobby');
    await staff.getByRole('button', { name: /^Admit / }).click();
    await bare.locator('#step-visit').waitFor({ state: 'visible', timeout: 10_000 });
    const bareState = await waitForVisitState(bare, `s.status === 'live' || s.status === 'error'`);
    const bareStats = await waitForStats(
      bare,
      (x) => x.totals.framesDecoded > 5 && x.totals.audioPacketsReceived > 0,
      'the device without camera or microphone decodes video and receives audio',
      15_000,
    ).catch(() => visitStats(bare));
    const bareMessage = await text(bare, '.visit-message');
    await shot(bare, 'patient-without-devices');
    await bare.getByRole('button', { name: 'Leave' }).click();
    await waitForVisitState(bare, `s.status === 'left'`, 10_000);
    await staff
      .getByRole('button', { name: /^Remove / })
      .nth(1)
      .waitFor({ state: 'detached', timeout: 10_000 });

    // ------------------------------------------------------------ recording (API; real media flowing)
    let recording: VisitMediaResult['recording'] = { pending: false, recordingId: '', files: [] };
    try {
      recording = await recordBriefly(st, visitId, {
        clinician: await cookieOf(a.context, gw, 'haven_access'),
        patient: await cookieOf(b.context, gw, 'haven_patient'),
      });
    } catch (err) {
      recording = { ...recording, error: err instanceof Error ? err.message.slice(0, 300) : String(err) };
    }

    // ------------------------------------------------------------ kick ("Remove")
    await staff.getByRole('button', { name: /^Remove / }).click();
    const patientState = await waitForVisitState(
      patient,
      `s.status === 'kicked' || s.status === 'error'`,
      10_000,
    );
    await patient.locator('#step-over').waitFor({ state: 'visible', timeout: 10_000 });
    const kickedMessage = await text(patient, '#over-message');
    const k1 = await pageInbound(patient);
    await new Promise((r) => setTimeout(r, 1500));
    const k2 = await pageInbound(patient);
    const clinAfterKick = await waitForStats(
      staff,
      (x) => x.feeds.length === 0,
      'the clinician’s patient tile goes away',
      10_000,
    ).catch(() => visitStats(staff));
    await staff.locator('#admitted-empty').waitFor({ state: 'visible' });
    await shot(patient, 'patient-removed');
    await shot(staff, 'clinician-after-remove');
    const pageRejoin = await probeMedia(patient, '/api/patient/media');
    await patient.route(`${gw}/api/test/old-media`, (route) =>
      route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(patientMedia) }),
    );
    const oldCredentialRejoin = await probeMedia(patient, '/api/test/old-media');

    // ------------------------------------------------------------ end the visit
    staff.once('dialog', (d) => void d.accept());
    await staff.locator('#visit-end').click();
    await staff.locator('#visit-state', { hasText: 'This visit has ended.' }).waitFor({ timeout: 10_000 });
    const clinicianEnd = await waitForVisitState(
      staff,
      `s.status === 'ended' || s.status === 'error'`,
      10_000,
    );
    const clinicianPageText = await text(staff, '#visit-state');
    const clinicianEndedMessages = await staff.getByText('This visit has ended.').count();
    // The patient's socket closed when they were removed: what the page says when they come back.
    await patient.goto(`${gw}/join`);
    await patient.locator('#step-over').waitFor({ state: 'visible' });
    const patientEndMessage = await text(patient, '#over-message');
    const rawJoinCode = await rawJoin(st.janusWsUrl, { room, pin, coreToken });
    await shot(staff, 'clinician-visit-ended');
    await shot(patient, 'patient-visit-ended');

    return {
      timings,
      frontDesk: { link, passcodeDigits: /^\d+$/.test(passcode) ? passcode.length : 0, gatewayUrl: gw },
      patientFlow: pf,
      clinicianSawLobby,
      beforeAdmission: {
        mediaRequest,
        forgedJoin,
        rawForgedJoinCode,
        inboundSamples,
        patientStats: patientStatsBefore,
        stillWaiting,
      },
      clinicianBeforeAdmission,
      afterAdmission: {
        patientMovedToVisit,
        patientVisitStatus,
        patient: patientStats,
        clinician: clinicianStats,
        admitToFirstFrameMs,
        admitToPatientPageMs,
        patientSeesTile,
        clinicianSeesTile,
      },
      screenShare,
      blur,
      chat,
      noDevices: {
        selfCheckHelp,
        clinicianLobbyText,
        state: bareState,
        stats: bareStats,
        pageMessage: bareMessage,
      },
      recording,
      kick: {
        patientState,
        patientPageMessage: kickedMessage,
        inboundDeltaAfterKick: k2.bytes - k1.bytes,
        pageRejoin,
        oldCredentialRejoin,
        clinicianRemoteFeedsAfterKick: clinAfterKick.feeds.length,
      },
      end: {
        clinicianState: clinicianEnd,
        clinicianPageText,
        clinicianEndedMessages,
        patientPageMessage: patientEndMessage,
        rawJoinCode,
      },
      csrf: await csrf.settle(),
      cspViolations,
      screenshots: shots,
      totalMs: Date.now() - t0,
    };
  });
}

runDriver('visit-media-driver', main);
