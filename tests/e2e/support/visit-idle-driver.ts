/**
 * Idle logoff during a live video visit, run INSIDE a network namespace by
 * tests/e2e/visit-idle-logoff.e2e.spec.ts. The whole stack (./stack.ts) with short idle timeouts on BOTH sides
 * (`HAVEN_IDLE_TIMEOUT_SEC` for identity's sweeper and for the gateway's live channel) and two headless Chromiums.
 * The patient is booked, redeems the link, is admitted over gRPC and joins the video with the product's own
 * client (web/src/visit); the clinician signs in on the real staff app, opens the visit and clicks
 * "Join video". Then nobody touches anything: from the moment the conversation is established (both sides decode
 * the other's video) for two idle timeouts, while the driver samples (one page.evaluate per page, no input)
 * whether the clinician is still signed in and both sides still decode video. Then the patient leaves, and the
 * clinician, alone and still untouched, is expected to be signed out for inactivity.
 * The stretch is counted from the conversation, not from the click: on a loaded machine the click, the join and
 * the first decoded frames can take most of a short idle timeout, and until there is a conversation nothing but
 * input keeps anyone signed in (the product's rule). So until then the clinician is not idle: the driver presses
 * Shift every 3 s from the "Join video" click until the conversation, as someone watching the screen come alive
 * would touch it, and a join slowed by the machine cannot sign them out before the stretch begins (input keeps
 * both identity's and the gateway's idle clocks). The idle timeout is 30 s: on a loaded machine both pages once
 * ran no timer for about 20 s (the pulse's three beats per timeout then miss all of a 15 s one, and identity
 * rightly signed the clinician out); a page that stops keeping a live clinician signed in is still signed out
 * about one idle timeout into the stretch of two.
 * Each step is said on stderr as it is reached ("visit-idle: … at N ms"), so a run cut short shows how far it got.
 * Prints one JSON line ({@link VisitIdleResult}).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { withStack } from './stack-run';
import {
  bookAdmittedVisit,
  PATIENT_MEDIA,
  startVisit,
  visitState,
  waitForStats,
  waitForVisitState,
} from './visit-flow';
import { openPatientPage, signIn, waitForDom } from './visit-ui';
import { runDriver } from '../../support/driver';

/** The idle timeout of identity and the gateway in this run, s. */
export const IDLE_SEC = 30;

/** One look at both pages during the idle stretch. */
export interface IdleSample {
  /** Since the clinician's last input (a key press before the conversation), ms. */
  readonly sinceInputMs: number;
  /** Since the conversation was established (both sides decoding the other's video), ms. */
  readonly sinceConversationMs: number;
  /** The staff app still shows the clinician's console (not the sign-in form). */
  readonly clinicianSignedIn: boolean;
  readonly clinicianStatus: string;
  readonly patientStatus: string;
  /** Video frames decoded so far by each side (from the other's feed). */
  readonly clinicianFrames: number;
  readonly patientFrames: number;
}

/** What the driver prints. */
export interface VisitIdleResult {
  readonly idleSec: number;
  readonly timings: Record<string, number>;
  /** Both sides decoded the other's video before the idle stretch began. */
  readonly liveBefore: { clinicianFrames: number; patientFrames: number };
  /** When both sides first decoded the other's video (the idle stretch starts), ms after the last input. */
  readonly conversationAtMs: number;
  /** The clinician was still signed in then (else the set-up outlasted the idle timeout: no verdict). */
  readonly signedInAtConversation: boolean;
  readonly samples: IdleSample[];
  /** GET /api/me from the clinician's page at the end of the idle stretch. */
  readonly meAfterIdle: number;
  readonly afterPatientLeft: {
    /** The clinician's page saw the patient's feed go. */
    readonly remoteFeeds: number;
    /** The sign-in form came back with the inactivity notice (bounded wait). */
    readonly signedOut: boolean;
    readonly notice: string;
    /** GET /api/me from the clinician's page after the sign-out (bounded wait for 401). */
    readonly me: number;
    /** The clinician's video client after the sign-out. */
    readonly clinicianStatus: string;
  };
  /**
   * The clinician page's live-channel sockets (/api/ws: the console's and the visit chat's) open when the
   * conversation began, and how many of them closed during the idle stretch (the gateway signs an idle staff
   * socket out on its own).
   */
  readonly liveSockets: { readonly atConversation: number; readonly closedInStretch: number };
  /** Refreshes and live-channel activity the clinician's page sent by itself, ms after the last input. */
  readonly told: Array<{ what: 'refresh' | 'activity'; atMs: number }>;
  /** When the patient left, and when the clinician's page saw their feed go, ms after the last input. */
  readonly leftAtMs: number;
  readonly aloneAtMs: number;
  readonly totalMs: number;
  /** The services' last log lines when a sample found the clinician signed out in the stretch (why it was). */
  readonly logsWhenSignedOut?: string;
}

/** How often the clinician touches the page between "Join video" and the conversation, ms. */
const SETUP_INPUT_EVERY_MS = 3000;

/**
 * Presses Shift on `page` every {@link SETUP_INPUT_EVERY_MS} until the returned stop is called; stop resolves
 * with the time of the last input (`from` when none), once no press is under way.
 */
function keepTouching(page: Page, from: number): () => Promise<number> {
  let last = from;
  let pressing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    pressing = pressing.then(() =>
      page.keyboard.press('Shift').then(
        () => {
          last = Date.now();
        },
        () => undefined,
      ),
    );
  }, SETUP_INPUT_EVERY_MS);
  return async () => {
    clearInterval(timer);
    await pressing;
    return last;
  };
}

async function meStatus(page: Page): Promise<number> {
  return page.evaluate<number>(`fetch('/api/me').then((r) => r.status)`);
}

/** The clinician's page: signed in (the console shown, not the sign-in form), the visit's status and frames. */
const CLINICIAN_LOOK = `(async () => {
  const shown = (id) => {
    const el = document.getElementById(id);
    return !!el && el.checkVisibility();
  };
  const stats = await window.HavenVisit.stats();
  return { signedIn: shown('console') && !shown('sign-in'), status: stats.status, frames: stats.totals.framesDecoded };
})()`;
const PATIENT_LOOK = `window.HavenVisit.stats().then((s) => ({ status: s.status, frames: s.totals.framesDecoded }))`;

/** One look at both pages: a single page.evaluate each, so the driver adds as little as it can to the pages' work. */
async function sample(
  clinician: Page,
  patient: Page,
  inputAt: number,
  conversationAt: number,
): Promise<IdleSample> {
  const [clin, pat] = await Promise.all([
    clinician.evaluate<{ signedIn: boolean; status: string; frames: number }>(CLINICIAN_LOOK),
    patient.evaluate<{ status: string; frames: number }>(PATIENT_LOOK),
  ]);
  const now = Date.now();
  return {
    sinceInputMs: now - inputAt,
    sinceConversationMs: now - conversationAt,
    clinicianSignedIn: clin.signedIn,
    clinicianStatus: clin.status,
    patientStatus: pat.status,
    clinicianFrames: clin.frames,
    patientFrames: pat.frames,
  };
}

async function main(): Promise<VisitIdleResult> {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const progress = (what: string) => process.stderr.write(`visit-idle: ${what} at ${Date.now() - t0} ms\n`);
  const idleEnv = { HAVEN_IDLE_TIMEOUT_SEC: String(IDLE_SEC) };
  return await withStack(
    { browsers: 2, stack: { identityEnv: idleEnv, gatewayEnv: idleEnv } },
    async ({ stack: s, browsers: [a, b], gatewayUrl: gw }) => {
      timings['stack'] = Date.now() - t0;
      progress('stack up');

      // The patient is booked, admitted and on video before the clinician's browser signs in. The gRPC sessions
      // used for this idle out on their own a few seconds later; the clinician's browser has a session of its own.
      const tSetup = Date.now();
      const { visit: v } = await bookAdmittedVisit(s);
      const patient = await openPatientPage(b.context, gw, v.patientToken);
      // The staff app's page loads visit.js; the patient's client runs in a container of its own.
      await startVisit(patient, PATIENT_MEDIA, 'patient-video');
      const patLive = await waitForVisitState(patient, `s.status === 'live' || s.status === 'error'`);
      if (patLive.status !== 'live')
        throw new Error(`the patient did not go live: ${JSON.stringify(patLive)}`);
      timings['patientLive'] = Date.now() - tSetup;
      progress('patient live');

      // The clinician: the real staff app, sign in, open the visit, join the video. The last input is the click.
      const tClin = Date.now();
      const clinician = await a.context.newPage();
      clinician.setDefaultTimeout(15_000);
      // What the clinician's page tells the servers by itself: session refreshes and live-channel activity.
      const told: Array<{ what: 'refresh' | 'activity'; at: number }> = [];
      clinician.on('request', (r) => {
        if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/auth/refresh')
          told.push({ what: 'refresh', at: Date.now() });
      });
      const sockets: Array<{ openedAt: number; closedAt?: number }> = [];
      clinician.on('websocket', (ws) => {
        if (!new URL(ws.url()).pathname.startsWith('/api/ws')) return;
        const socket: { openedAt: number; closedAt?: number } = { openedAt: Date.now() };
        sockets.push(socket);
        ws.on('close', () => {
          socket.closedAt = Date.now();
        });
        ws.on('framesent', (f) => {
          if (typeof f.payload === 'string' && f.payload.includes('"activity"'))
            told.push({ what: 'activity', at: Date.now() });
        });
      });
      await signIn(clinician, gw, 'clinician');
      progress('clinician signed in');
      await clinician
        .getByRole('button', { name: /^Open the visit/ })
        .first()
        .click();
      await clinician.locator('#visit').waitFor({ state: 'visible' });
      await clinician.getByRole('button', { name: 'Join video' }).click();
      const stopTouching = keepTouching(clinician, Date.now());
      const clinLive = await waitForVisitState(clinician, `s.status === 'live' || s.status === 'error'`);
      if (clinLive.status !== 'live')
        throw new Error(`the clinician did not go live: ${JSON.stringify(clinLive)}`);
      progress('clinician live');
      const clinSees = await waitForStats(
        clinician,
        (x) => x.totals.framesDecoded > 0,
        'the clinician sees the patient',
      );
      const patSees = await waitForStats(
        patient,
        (x) => x.totals.framesDecoded > 0,
        'the patient sees the clinician',
      );
      const inputAt = await stopTouching();
      const conversationAt = Date.now();
      progress('conversation');
      timings['clinicianSignInToConversation'] = conversationAt - tClin;
      const atConversation = await sample(clinician, patient, inputAt, conversationAt);

      // Nobody touches either page for two idle timeouts of conversation (and a little more); look every ~3 s.
      const samples: IdleSample[] = [];
      let logsWhenSignedOut: string | undefined;
      const idleUntil = conversationAt + 2 * IDLE_SEC * 1000 + 2000;
      for (let i = 0; i < 100 && atConversation.clinicianSignedIn && Date.now() < idleUntil; i++) {
        await sleep(Math.min(3000, Math.max(0, idleUntil - Date.now())));
        const x = await sample(clinician, patient, inputAt, conversationAt);
        samples.push(x);
        if (!x.clinicianSignedIn) {
          // Signed out: nothing more to see but why (identity and the gateway say which clock, or a reuse).
          logsWhenSignedOut = s.logs(25);
          break;
        }
      }
      const stretchEnd = Date.now();
      const meAfterIdle = await meStatus(clinician);
      timings['idleStretch'] = Date.now() - inputAt;
      progress('idle stretch over');

      // The patient leaves; the clinician is alone in the room and still untouched.
      const tLeft = Date.now();
      await patient.evaluate('window.HavenVisit.leave()');
      const alone = await waitForVisitState(clinician, 's.remoteFeeds === 0', 10_000).catch(() =>
        visitState(clinician),
      );
      const aloneAt = Date.now();
      const signedOut = await waitForDom(
        clinician,
        `document.getElementById('sign-in') && !document.getElementById('sign-in').hidden && ` +
          `/inactivity/.test(document.getElementById('sign-in-notice').textContent)`,
        'the clinician is signed out for inactivity',
        2 * IDLE_SEC * 1000 + 15_000,
      ).then(
        () => true,
        () => false,
      );
      timings['patientLeftToSignedOut'] = Date.now() - tLeft;
      progress(signedOut ? 'clinician signed out' : 'clinician NOT signed out');
      const notice = ((await clinician.locator('#sign-in-notice').textContent()) ?? '').trim();
      let me = await meStatus(clinician);
      for (let i = 0; i < 50 && me !== 401; i++) {
        await sleep(100);
        me = await meStatus(clinician);
      }
      let clinicianStatus = (await visitState(clinician)).status;
      for (let i = 0; i < 50 && clinicianStatus === 'live'; i++) {
        await sleep(100);
        clinicianStatus = (await visitState(clinician)).status;
      }
      return {
        idleSec: IDLE_SEC,
        timings,
        liveBefore: {
          clinicianFrames: clinSees.totals.framesDecoded,
          patientFrames: patSees.totals.framesDecoded,
        },
        conversationAtMs: conversationAt - inputAt,
        signedInAtConversation: atConversation.clinicianSignedIn,
        samples,
        meAfterIdle,
        afterPatientLeft: { remoteFeeds: alone.remoteFeeds, signedOut, notice, me, clinicianStatus },
        liveSockets: {
          atConversation: sockets.filter((x) => x.closedAt === undefined || x.closedAt > conversationAt)
            .length,
          closedInStretch: sockets.filter(
            (x) => x.closedAt !== undefined && x.closedAt > conversationAt && x.closedAt <= stretchEnd,
          ).length,
        },
        told: told.map((x) => ({ what: x.what, atMs: x.at - inputAt })),
        leftAtMs: tLeft - inputAt,
        aloneAtMs: aloneAt - inputAt,
        totalMs: Date.now() - t0,
        ...(logsWhenSignedOut === undefined ? {} : { logsWhenSignedOut }),
      };
    },
  );
}

runDriver('visit-idle-driver', main);
