/**
 * An interpreter without an account joins a three-party video visit, run INSIDE a network namespace by
 * tests/e2e/visit-three-party.e2e.spec.ts. The whole stack (./stack.ts) and three headless Chromiums. The patient
 * is booked, redeems the link and is admitted over gRPC; the clinician's page asks the gateway for a one-time
 * guest link for an interpreter (`POST /api/visits/:id/guest-links`); the interpreter opens that link on the
 * patient page (web/src/patient), types the guest passcode, runs the device check and waits in the waiting room;
 * before admission the media route refuses them; the clinician admits their own lobby entry. The clinician and
 * the patient join the video with the product's own client (web/src/visit) on the gateway's page; the
 * interpreter's page enters the visit by itself once admitted. The driver waits until every page decodes video
 * from both others and receives audio from both, and reads the labels on each page's remote tiles. Prints one
 * JSON line ({@link VisitThreeResult}).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { session } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SCREENSHOT_DIR } from '@haven/testing';
import { withStack } from './stack-run';
import {
  admit,
  bookAdmittedVisit,
  PATIENT_MEDIA,
  staffMedia,
  startVisit,
  visitState,
  visitStats,
  type VisitStats,
} from './visit-flow';
import { openPatientPage, signIn } from './visit-ui';
import { runDriver } from '../../support/driver';

/** What one page sees of the others. */
export interface PageView {
  readonly status: string;
  readonly remoteFeeds: number;
  /** Remote feeds with decoded video, and with audio packets. */
  readonly feedsWithVideo: number;
  readonly feedsWithAudio: number;
  /** The labels on the remote tiles, sorted. */
  readonly labels: string[];
}

/** What the driver prints. */
export interface VisitThreeResult {
  readonly timings: Record<string, number>;
  /** The interpreter's media request before being admitted (HTTP status of the patient media route). */
  readonly beforeAdmission: { mediaStatus: number };
  /** The guest link's shape and the steps the interpreter's page went through. */
  readonly guestJoin: { linkShape: boolean; passcodeDiffers: boolean; steps: string[] };
  /** The interpreter's lobby entry as the clinician's visit read shows it. */
  readonly lobbyEntry: { kind: string; state: string } | null;
  /** The device check the interpreter's page reported on arrival, as the clinician's visit read shows it. */
  readonly deviceCheck: { camera: boolean; microphone: boolean; permission: string } | null;
  readonly clinician: PageView;
  readonly patient: PageView;
  readonly interpreter: PageView;
  readonly totalMs: number;
}

const VISIT_BOX = 'three-visit';

function remoteLabels(page: Page, root = `#${VISIT_BOX}`): Promise<string[]> {
  return page.evaluate<string[]>(
    `[...document.querySelectorAll('${root} .tile:not(.tile-self) .tile-label')]` +
      `.map((e) => e.childNodes[0] ? e.childNodes[0].textContent.trim() : '').sort()`,
  );
}

function counts(s: VisitStats): { video: number; audio: number } {
  return {
    video: s.feeds.filter((f) => f.framesDecoded > 0).length,
    audio: s.feeds.filter((f) => f.audioPacketsReceived > 0).length,
  };
}

async function view(page: Page, root?: string): Promise<PageView> {
  const [st, stats, labels] = await Promise.all([
    visitState(page),
    visitStats(page),
    remoteLabels(page, root),
  ]);
  const c = counts(stats);
  return {
    status: st.status,
    remoteFeeds: st.remoteFeeds,
    feedsWithVideo: c.video,
    feedsWithAudio: c.audio,
    labels,
  };
}

/**
 * Waits (bounded) until the page is live (its own publisher's media is up: Janus's `webrtcup` can reach the page
 * after the first frames from the others), decodes video and audio from two others and labels both tiles.
 */
async function waitForTwo(page: Page, timeoutMs: number, root?: string): Promise<PageView> {
  const until = Date.now() + timeoutMs;
  let last = await view(page, root);
  while (Date.now() < until) {
    if (
      last.status === 'live' &&
      last.feedsWithVideo >= 2 &&
      last.feedsWithAudio >= 2 &&
      last.labels.length === 2 &&
      !last.labels.includes('Participant')
    )
      return last;
    await sleep(250);
    last = await view(page, root);
  }
  return last;
}

async function main(): Promise<VisitThreeResult> {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  return withStack({ browsers: 3 }, async ({ stack: s, browsers: [a, b, c], gatewayUrl: gw }) => {
    timings['stack'] = Date.now() - t0;

    const { visit: v, clinician: clinicianApi } = await bookAdmittedVisit(s);
    const visitUrl = `/api/visits/${v.appointmentId}`;
    const media = staffMedia(v.appointmentId);

    // The patient's page.
    const patient = await openPatientPage(b.context, gw, v.patientToken);
    await startVisit(patient, PATIENT_MEDIA, VISIT_BOX);

    // The clinician's page.
    const clinician = await a.context.newPage();
    clinician.setDefaultTimeout(15_000);
    await signIn(clinician, gw, 'clinician');
    await startVisit(clinician, media, VISIT_BOX);

    // The clinician's page asks for a one-time guest link for an interpreter (shown once: link + passcode).
    const link = JSON.parse(
      await clinician.evaluate<string>(`fetch('${visitUrl}/guest-links', { method: 'POST', headers: {
        'content-type': 'application/json', 'x-csrf-token': decodeURIComponent((document.cookie.match(
        /haven_csrf=([^;]+)/) || [])[1] || '') }, body: JSON.stringify({ role: 'interpreter' }) })
        .then((r) => r.text())`),
    ) as { url: string; passcode: string; guestId: string };
    const fragment = link.url.slice(link.url.indexOf('#'));
    const guestJoin = {
      linkShape: /^#g\.[A-Za-z0-9_-]{43}$/.test(fragment),
      passcodeDiffers: /^\d{8}$/.test(link.passcode) && link.passcode !== v.passcode,
      steps: [] as string[],
    };

    // The interpreter opens the link on the patient page: passcode, device check, waiting room.
    const interpreter = await c.context.newPage();
    interpreter.setDefaultTimeout(15_000);
    await interpreter.goto(`${gw}/join${fragment}`);
    const shot = (page: Page, name: string) => {
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      return page.screenshot({ path: join(SCREENSHOT_DIR, `guest-${name}-1280.png`) });
    };
    await shot(interpreter, 'passcode');
    await interpreter.locator('#passcode').fill(link.passcode);
    guestJoin.steps.push('passcode');
    await interpreter.locator('#passcode-form button[type=submit]').click();
    await interpreter.locator('#check-start').click();
    guestJoin.steps.push('check');
    await interpreter.locator('#check-continue').click();
    await interpreter.locator('#step-waiting').waitFor();
    guestJoin.steps.push('waiting');
    await shot(interpreter, 'waiting');
    const mediaStatus = await interpreter.evaluate<number>(`fetch('/api/patient/media', { method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': decodeURIComponent((document.cookie.match(
      /haven_csrf=([^;]+)/) || [])[1] || '') }, body: '{}' }).then((r) => r.status)`);
    let entry: session.Participant | undefined;
    for (let i = 0; i < 100 && !entry; i++) {
      const detail = await callUnary(
        s.clients.session,
        'getVisit',
        { name: v.visit },
        clientCallMetadata({ token: clinicianApi.token }),
      );
      entry = detail.visit?.participants.find((p) => p.principal === `guests/${link.guestId}`);
      if (!entry) await sleep(100);
    }
    const lobbyEntry = entry
      ? {
          kind:
            entry.role === session.ParticipantRole.PARTICIPANT_ROLE_INTERPRETER
              ? 'interpreter'
              : String(entry.role),
          state:
            entry.state === session.ParticipantState.PARTICIPANT_STATE_WAITING
              ? 'lobby'
              : String(entry.state),
        }
      : null;
    if (!entry) throw new Error('the interpreter is not in the lobby');
    const deviceCheck = entry.deviceCheck
      ? {
          camera: entry.deviceCheck.camera,
          microphone: entry.deviceCheck.microphone,
          permission:
            entry.deviceCheck.permission === session.DevicePermission.DEVICE_PERMISSION_GRANTED
              ? 'granted'
              : String(entry.deviceCheck.permission),
        }
      : null;

    // Admitted: the interpreter's page enters the visit by itself.
    await admit(s, clinicianApi, entry.name);
    const tAdmit = Date.now();
    await interpreter.locator('#step-visit').waitFor({ state: 'visible' });
    guestJoin.steps.push('visit');
    const [cv, pv, iv] = await Promise.all([
      waitForTwo(clinician, 40_000),
      waitForTwo(patient, 40_000),
      waitForTwo(interpreter, 40_000, '#visit-stage'),
    ]);
    timings['admitToAllThree'] = Date.now() - tAdmit;
    await shot(interpreter, 'visit');
    return {
      timings,
      beforeAdmission: { mediaStatus },
      guestJoin,
      lobbyEntry,
      deviceCheck,
      clinician: cv,
      patient: pv,
      interpreter: iv,
      totalMs: Date.now() - t0,
    };
  });
}

runDriver('visit-three-driver', main);
