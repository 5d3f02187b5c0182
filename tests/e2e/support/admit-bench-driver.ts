/**
 * Admit → first decoded video frame, run INSIDE a network namespace by tests/bench/admit.bench.ts: the whole
 * stack (./stack.ts), a clinician publishing through web/src/visit, and per run: the patient joins the
 * lobby, the clinician admits (gRPC), the patient's page (already open, janus.js loaded, as in the waiting room)
 * fetches media credentials and joins; the sample is admit call → first decoded frame in the patient's Chromium.
 * In the same run, with the same browsers and room, the raw baseline: a plain janus.js subscriber join
 * (tests/support/media/room.html) → first frame. Then a kick resets the patient for the next run.
 * Env: RUNS (default 20). Prints one JSON line ({@link AdmitBenchDriverResult}).
 */
import type { Page } from 'playwright-core';
import { signJanusToken } from '@haven/testing';
import { roomCredentials, roomNumberOf } from '../../../services/session/src/visit/open-visit';
import { withStack } from './stack-run';
import {
  admit,
  bookVisit,
  joinLobby,
  joinMedia,
  kick,
  mediaBody,
  startVisit,
  waitForVisitState,
} from './visit-flow';
import { answerFromError, startVisitPages, type VisitPages } from './visit-pages';
import { runDriver } from '../../support/driver';

/** What the driver prints. */
export interface AdmitBenchDriverResult {
  /** Admit RPC start → first decoded frame in the patient's page (ms), per run. */
  readonly admitToFirstFrameMs: number[];
  /** Of which: the admit RPC itself (ms). */
  readonly admitRpcMs: number[];
  /** Raw janus.js subscriber join → first decoded frame (ms), per run. */
  readonly rawJoinToFirstFrameMs: number[];
  readonly stackStartMs: number;
  readonly totalMs: number;
}

async function rawFirstFrame(
  page: Page,
  pagesUrl: string,
  q: Record<string, string>,
  timeoutMs = 15_000,
): Promise<number> {
  await page.goto(`${pagesUrl}/room.html?${new URLSearchParams(q).toString()}`);
  const until = Date.now() + timeoutMs;
  for (let i = 0; i < 3000 && Date.now() < until; i++) {
    const s = await page.evaluate<{ status: string; firstFrameMs: number | null; error: string | null }>(
      '({ status: window.havenRoom.status, firstFrameMs: window.havenRoom.firstFrameMs, error: window.havenRoom.error })',
    );
    if (s.firstFrameMs !== null) return s.firstFrameMs;
    if (s.status === 'error') throw new Error(`raw subscriber failed: ${s.error}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('raw subscriber: no frame');
}

/** In the page: start HavenVisit and poll stats every 5 ms until a frame is decoded; resolves Date.now(). */
const START_AND_WAIT_FRAME = `(async () => {
  void window.HavenVisit.start(document.getElementById('visit'), { mediaUrl: '/api/test/media/patient', leaveUrl: '/api/test/leave/patient', role: 'patient' });
  const until = Date.now() + 15000;
  while (Date.now() < until) {
    const s = await window.HavenVisit.stats();
    if (s.totals.framesDecoded > 0) return Date.now();
    if (window.HavenVisit.state.status === 'error') throw new Error('visit error: ' + window.HavenVisit.state.message);
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('no frame within 15 s');
})()`;

async function main(): Promise<AdmitBenchDriverResult> {
  const t0 = Date.now();
  const runs = Math.min(Math.max(Number(process.env['RUNS'] ?? '20') || 20, 1), 100);
  let pages: VisitPages | undefined;
  return withStack(
    { browsers: 2, stack: { gateway: false, audit: false } },
    async ({ stack: st, browsers: [a, b] }) => {
      try {
        const stackStartMs = st.timings['total'] ?? 0;
        const sessionHttp = st.sessionHttpUrls[0];
        if (!sessionHttp) throw new Error('no session HTTP port');
        pages = await startVisitPages(`${sessionHttp.replace(/^http/, 'ws')}/media`);
        const frontDesk = await st.login('front_desk');
        const clinician = await st.login('clinician');
        const v = await bookVisit(st, frontDesk, clinician);
        // The pages' media websocket (/api/media) is authenticated by these cookies, as at the gateway.
        const cookie = (name: string, value: string) => ({ name, value, domain: '127.0.0.1', path: '/api' });
        await a.context.addCookies([cookie('haven_access', clinician.token)]);
        await b.context.addCookies([cookie('haven_patient', v.patientToken)]);
        pages.setMedia('clinician', async () => ({
          ok: true,
          body: mediaBody(await joinMedia(st, v.visit, clinician.token)),
        }));
        pages.setMedia('patient', async () => {
          try {
            return {
              ok: true,
              body: mediaBody(await joinMedia(st, v.visit, v.patientToken), { patient: true }),
            };
          } catch (err) {
            return answerFromError(err);
          }
        });
        const clinPage = await a.context.newPage();
        const patPage = await b.context.newPage();
        await Promise.all([
          clinPage.goto(`${pages.url}/visit.html`),
          patPage.goto(`${pages.url}/visit.html`),
        ]);
        await startVisit(clinPage, {
          mediaUrl: '/api/test/media/clinician',
          leaveUrl: '/api/test/leave/clinician',
          role: 'clinician',
        });
        const clin = await waitForVisitState(clinPage, `s.status === 'live' || s.status === 'error'`);
        if (clin.status !== 'live' || clin.publisherId === null)
          throw new Error(`clinician not live: ${JSON.stringify(clin)}`);
        // Warm janus.js in the patient's page, as the waiting room would (the page is open before admission).
        await patPage.evaluate(
          `new Promise((resolve, reject) => { const s = document.createElement('script'); s.src = '/vendor/janus.js'; s.onload = resolve; s.onerror = reject; document.head.appendChild(s); })`,
        );
        const rawPage = await b.context.newPage();

        const admitToFirstFrameMs: number[] = [];
        const admitRpcMs: number[] = [];
        const rawJoinToFirstFrameMs: number[] = [];
        for (let i = 0; i < runs; i++) {
          const participant = await joinLobby(st, v);
          const tAdmit = Date.now();
          await admit(st, clinician, participant);
          admitRpcMs.push(Date.now() - tAdmit);
          const tFrame = await patPage.evaluate<number>(START_AND_WAIT_FRAME);
          admitToFirstFrameMs.push(tFrame - tAdmit);

          // Raw baseline with the same browsers, same room: a plain janus.js subscriber straight at Janus, with the
          // test's own core token and the room's PIN (no proxy, no gateway).
          rawJoinToFirstFrameMs.push(
            await rawFirstFrame(rawPage, pages.url, {
              role: 'subscriber',
              server: st.janusWsUrl,
              token: signJanusToken({ secret: st.janusTokenSecret, expiresAt: Date.now() + 10 * 60_000 }),
              room: String(roomNumberOf(v.appointmentId)),
              pin: roomCredentials(st.janusTokenSecret, v.appointmentId).pin,
              feed: String(clin.publisherId),
              display: 'raw',
            }),
          );
          await rawPage.goto('about:blank');

          await kick(st, clinician, participant);
          await waitForVisitState(patPage, `s.status === 'kicked' || s.status === 'error'`, 10_000);
        }
        return {
          admitToFirstFrameMs,
          admitRpcMs,
          rawJoinToFirstFrameMs,
          stackStartMs,
          totalMs: Date.now() - t0,
        };
      } finally {
        await pages?.close();
      }
    },
  );
}

runDriver('admit-bench-driver', main);
