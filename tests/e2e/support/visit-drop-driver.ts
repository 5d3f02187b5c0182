/**
 * A 60 s network drop in a live video visit, run INSIDE a network namespace by
 * tests/e2e/visit-network-drop.e2e.spec.ts. The whole stack (./stack.ts) and two headless Chromiums: the patient
 * is booked, redeems the link, is admitted over gRPC and joins the video with the product's own client
 * (web/src/visit); the clinician signs in on the staff app and joins the same visit's video with it. Once both
 * decode each other's video, the media path is cut for {@link DROP_MS}: a `blackhole` routing rule for the
 * namespace's veth addresses, ahead of the `local` table (taking the veth down is not enough: traffic between two
 * local addresses goes over loopback). Janus binds ICE only there, so every media packet both ways is lost, while
 * the pages' HTTP and websockets (127.0.0.1) stay up. The driver samples both pages every second (state and the
 * message line they show), restores the route, and waits for both to be live and decoding again.
 * Prints one JSON line ({@link VisitDropResult}).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync } from 'node:child_process';
import type { Page } from 'playwright-core';
import { withStack } from './stack-run';
import {
  bookAdmittedVisit,
  PATIENT_MEDIA,
  staffMedia,
  startVisit,
  visitState,
  visitStats,
  waitForStats,
} from './visit-flow';
import { openPatientPage, signIn } from './visit-ui';
import { runDriver } from '../../support/driver';

/** How long the media path is cut, ms. */
export const DROP_MS = 60_000;

/** One look at a page during the drop. */
export interface DropSample {
  readonly atMs: number;
  readonly clinicianStatus: string;
  readonly patientStatus: string;
  /** The message line each visit screen shows. */
  readonly clinicianMessage: string;
  readonly patientMessage: string;
}

/** What the driver prints. */
export interface VisitDropResult {
  readonly timings: Record<string, number>;
  /** Before the drop: frames decoded by each side, and the label of the other's tile on each page. */
  readonly before: {
    clinicianFrames: number;
    patientFrames: number;
    clinicianSees: string;
    patientSees: string;
  };
  readonly samples: DropSample[];
  /** After the route is back: both states, and the frames decoded since, bounded waits. */
  readonly after: {
    clinicianStatus: string;
    patientStatus: string;
    clinicianRecoveredMs: number | null;
    patientRecoveredMs: number | null;
    clinicianNewFrames: number;
    patientNewFrames: number;
    clinicianMessage: string;
    patientMessage: string;
  };
  readonly totalMs: number;
}

const VISIT_BOX = 'drop-visit';

/** The route rules that cut (and restore) every packet between the namespace's veth addresses. */
function mediaPath(cut: boolean): void {
  const args = cut
    ? ['rule', 'add', 'pref', '10', 'to', '10.254.0.0/30', 'blackhole']
    : ['rule', 'del', 'pref', '10'];
  execFileSync('/usr/sbin/ip', args, { stdio: 'pipe' });
}

/** Moves the `local` routing table behind a free preference, so a blackhole rule can come first. */
function localTableLast(): void {
  const rules = execFileSync('/usr/sbin/ip', ['rule'], { encoding: 'utf8' });
  if (/^0:\s+from all lookup local/m.test(rules)) {
    execFileSync('/usr/sbin/ip', ['rule', 'add', 'pref', '100', 'table', 'local']);
    execFileSync('/usr/sbin/ip', ['rule', 'del', 'pref', '0', 'table', 'local']);
  }
}

/** The visit screen's message line ('' when it says nothing). */
function message(page: Page): Promise<string> {
  return page.evaluate<string>(
    `(document.querySelector('#${VISIT_BOX} .visit-message')?.textContent ?? '').trim()`,
  );
}

/** The label on the main remote tile. */
async function mainLabel(page: Page): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const label = await page.evaluate<string>(
      `(document.querySelector('#${VISIT_BOX} .tile-main .tile-label')?.textContent ?? '').trim()`,
    );
    if (label !== '' && !label.startsWith('Participant')) return label;
    await sleep(100);
  }
  return page.evaluate<string>(
    `(document.querySelector('#${VISIT_BOX} .tile-main .tile-label')?.textContent ?? '').trim()`,
  );
}

async function waitLive(page: Page, since: number, timeoutMs: number): Promise<number | null> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if ((await visitState(page)).status === 'live') return Date.now() - since;
    await sleep(100);
  }
  return null;
}

async function main(): Promise<VisitDropResult> {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  let cut = false;
  return withStack({ browsers: 2 }, async ({ stack: s, browsers: [a, b], gatewayUrl: gw }) => {
    try {
      timings['stack'] = Date.now() - t0;

      const { visit: v } = await bookAdmittedVisit(s);
      const patient = await openPatientPage(b.context, gw, v.patientToken);
      await startVisit(patient, PATIENT_MEDIA, VISIT_BOX);

      const clinician = await a.context.newPage();
      clinician.setDefaultTimeout(15_000);
      await signIn(clinician, gw, 'clinician');
      await startVisit(clinician, staffMedia(v.appointmentId), VISIT_BOX);
      const [clinSees, patSees] = await Promise.all([
        waitForStats(clinician, (x) => x.totals.framesDecoded > 5, 'the clinician sees the patient', 30_000),
        waitForStats(patient, (x) => x.totals.framesDecoded > 5, 'the patient sees the clinician', 30_000),
      ]);
      const before = {
        clinicianFrames: clinSees.totals.framesDecoded,
        patientFrames: patSees.totals.framesDecoded,
        clinicianSees: await mainLabel(clinician),
        patientSees: await mainLabel(patient),
      };
      timings['bothLive'] = Date.now() - t0;

      // The drop: every media packet both ways is lost for DROP_MS; look at both pages every second.
      localTableLast();
      mediaPath(true);
      cut = true;
      const dropAt = Date.now();
      const samples: DropSample[] = [];
      while (Date.now() - dropAt < DROP_MS) {
        await sleep(Math.min(1000, Math.max(0, DROP_MS - (Date.now() - dropAt))));
        const [cs, ps, cm, pm] = await Promise.all([
          visitState(clinician),
          visitState(patient),
          message(clinician),
          message(patient),
        ]);
        samples.push({
          atMs: Date.now() - dropAt,
          clinicianStatus: cs.status,
          patientStatus: ps.status,
          clinicianMessage: cm,
          patientMessage: pm,
        });
      }
      mediaPath(false);
      cut = false;
      const backAt = Date.now();
      timings['drop'] = backAt - dropAt;

      const [clinicianRecoveredMs, patientRecoveredMs] = await Promise.all([
        waitLive(clinician, backAt, 45_000),
        waitLive(patient, backAt, 45_000),
      ]);
      // Video resumes once a keyframe arrives after the ICE restart: wait (bounded) for ten new frames on each side.
      const [c0, p0] = await Promise.all([visitStats(clinician), visitStats(patient)]);
      const newFrames = async (page: Page, from: number) => {
        const until = Date.now() + 20_000;
        let now = (await visitStats(page)).totals.framesDecoded;
        while (now - from <= 10 && Date.now() < until) {
          await sleep(250);
          now = (await visitStats(page)).totals.framesDecoded;
        }
        return { frames: now - from, atMs: Date.now() - backAt };
      };
      const [cf, pf] = await Promise.all([
        newFrames(clinician, c0.totals.framesDecoded),
        newFrames(patient, p0.totals.framesDecoded),
      ]);
      timings['clinicianVideoBack'] = cf.atMs;
      timings['patientVideoBack'] = pf.atMs;
      const [cs, ps, cm, pm] = await Promise.all([
        visitState(clinician),
        visitState(patient),
        message(clinician),
        message(patient),
      ]);
      return {
        timings,
        before,
        samples,
        after: {
          clinicianStatus: cs.status,
          patientStatus: ps.status,
          clinicianRecoveredMs,
          patientRecoveredMs,
          clinicianNewFrames: cf.frames,
          patientNewFrames: pf.frames,
          clinicianMessage: cm,
          patientMessage: pm,
        },
        totalMs: Date.now() - t0,
      };
    } finally {
      if (cut) mediaPath(false);
    }
  });
}

runDriver('visit-drop-driver', main);
