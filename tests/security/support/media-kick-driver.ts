/**
 * The media attacker with real media, run INSIDE a network namespace by tests/security/media-kick.e2e.spec.ts:
 * the whole stack (tests/e2e/support/stack.ts, gateway included) and two headless Chromiums on the gateway's
 * origin with the participants' cookies. Both run the product's own client (web/src/visit): the clinician
 * publishes, the admitted patient sees them. In the patient's tab the attacker then drives the OFFICIAL janus.js
 * (./attacker.js) with only what the patient's browser was handed (POST /api/patient/media):
 * a second feed (a screen share is allowed), a third (beyond a patient's limit), `configure` with `record` and a
 * `filename` (a path outside the recordings directory and a `../` traversal) on a live feed, and a second
 * subscriber to the clinician in a Janus session of its own. Then the clinician removes the patient: frames on
 * every subscriber of the patient stop within 2 s, the clinician's tiles of the patient's feeds go away, and
 * nothing the patient held opens a new subscription. Prints one JSON line ({@link MediaKickResult}).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { LaunchedChromium } from '@haven/testing';
import { withStack } from '../../e2e/support/stack-run';
import { kick, visitStats, waitForStats, waitForVisitState } from '../../e2e/support/visit-flow';
import { admittedVisit } from './visit-setup';
import { runDriver } from '../../support/driver';

/** What the driver prints. */
export interface MediaKickResult {
  /** The clinician's and the patient's own clients went live and see each other. */
  readonly live: { clinician: string; patient: string; patientFrames: number };
  /** The keys of what the patient's browser was handed for media. */
  readonly heldKeys: string[];
  /** The attacker's second feed (allowed) and third feed (beyond the limit). */
  readonly secondFeed: { feed: number | null; error: string | null };
  readonly thirdFeed: { feed: number | null; error: string | null };
  /** Answers to `configure` with record + filename on the live second feed. */
  readonly recordAnswers: unknown[];
  /** .mjr files in the recordings dir, and whether the attempted paths exist, 2 s later. */
  readonly files: { recordings: string[]; attempted: boolean[] };
  /** The attacker's own subscriber to the clinician, before the kick. */
  readonly attackerSubscriber: { error: string | null; frames: number };
  /** Frames decoded on the attacker's subscriber and the patient's own client: at the kick, +2 s, +3 s. */
  readonly afterKick: { attacker: number[]; patientClient: number[]; clinicianRemoteFeeds: number };
  /** A new session and subscription with what the patient held, after the kick. */
  readonly retry: {
    session: { ok: boolean; error: string | null };
    subscribe: string | null;
    frames: number;
  };
  readonly totalMs: number;
}

const ATTACKER = readFileSync(join(__dirname, 'attacker.js'), 'utf8');

async function openPage(
  browser: LaunchedChromium,
  gw: string,
  cookies: Record<string, string>,
): Promise<Page> {
  await browser.context.addCookies(
    Object.entries(cookies).map(([name, value]) => ({
      name,
      value,
      domain: '127.0.0.1',
      path: name === 'haven_csrf' ? '/' : '/api',
      sameSite: 'Strict' as const,
    })),
  );
  const page = await browser.context.newPage();
  page.setDefaultTimeout(15_000);
  // With PAGE_CONSOLE=1 the page's console goes to the driver's stderr (shown when the driver fails).
  if (process.env['PAGE_CONSOLE']) page.on('console', (m) => process.stderr.write(`[page] ${m.text()}\n`));
  // The staff app's page (it loads visit.js); the tests start the visit in a container of their own.
  await page.goto(`${gw}/`);
  await page.evaluate(
    `(() => { const d = document.createElement('div'); d.id = 'attack-visit'; document.body.prepend(d); })()`,
  );
  return page;
}

/** Starts the product's own visit client (window.HavenVisit, web/src/visit) in the page's container. */
async function startIn(page: Page, o: { mediaUrl: string; leaveUrl: string; role: string }): Promise<void> {
  for (let i = 0; i < 200 && !(await page.evaluate<boolean>('!!window.HavenVisit')); i++) await sleep(25);
  await page.evaluate(
    `void window.HavenVisit.start(document.getElementById('attack-visit'), ${JSON.stringify(o)})`,
  );
}

async function main(): Promise<MediaKickResult> {
  const t0 = Date.now();
  return withStack({ browsers: 2 }, async ({ stack: s, browsers: [a, b], gatewayUrl: gw }) => {
    const v = await admittedVisit(s);
    const csrf = randomBytes(32).toString('base64url');
    const clin = await openPage(a, gw, { haven_access: v.clinician.token, haven_csrf: csrf });
    const pat = await openPage(b, gw, { haven_patient: v.patientToken, haven_csrf: csrf });

    // The product's own clients: the clinician publishes, the patient joins and sees them.
    await startIn(clin, {
      mediaUrl: `/api/visits/${v.visitId}/media`,
      leaveUrl: `/api/visits/${v.visitId}/leave`,
      role: 'clinician',
    });
    const clinLive = await waitForVisitState(clin, `s.status === 'live' || s.status === 'error'`);
    await startIn(pat, {
      mediaUrl: '/api/patient/media',
      leaveUrl: '/api/patient/leave',
      role: 'patient',
    });
    const patLive = await waitForVisitState(pat, `s.status === 'live' || s.status === 'error'`);
    if (clinLive.status !== 'live' || patLive.status !== 'live') {
      throw new Error(`the clients did not go live: ${JSON.stringify({ clinLive, patLive })}`);
    }
    const seen = await waitForStats(pat, (x) => x.totals.framesDecoded > 0, 'the patient sees the clinician');
    const clinicianFeed = seen.feeds[0]?.feed;
    if (clinicianFeed === undefined) throw new Error('no clinician feed');

    // The attacker: only what the patient's browser was handed.
    await pat.evaluate(ATTACKER);
    const held = await pat.evaluate<Record<string, unknown>>(
      `fetch('/api/patient/media', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': ${JSON.stringify(csrf)} }, body: '{}' }).then((r) => r.json())`,
    );
    await pat.evaluate(`window.__attacker.init(${JSON.stringify(held)}, { role: 'patient' })`);
    const s1 = await pat.evaluate<{ id: number; ok: boolean; error: string | null }>(
      'window.__attacker.session()',
    );
    if (!s1.ok) throw new Error(`the attacker's session failed while admitted: ${s1.error}`);
    type Published = { id: number | null; feed: number | null; error: string | null };
    const second = await pat.evaluate<Published>(`window.__attacker.publish(${s1.id})`);
    const third = await pat.evaluate<Published>(`window.__attacker.publish(${s1.id})`);

    const tag = randomBytes(6).toString('hex');
    const attempted = [`/tmp/haven-attack-${tag}/configure`, `/tmp/haven-attack-${tag}-t/traversal`];
    const recordAnswers: unknown[] = [];
    if (second.id !== null) {
      recordAnswers.push(
        await pat.evaluate(
          `window.__attacker.message(${second.id}, { request: 'configure', record: true, filename: ${JSON.stringify(attempted[0])} })`,
        ),
        await pat.evaluate(
          `window.__attacker.message(${second.id}, { request: 'configure', record: true, filename: ${JSON.stringify(`${'../'.repeat(12)}tmp/haven-attack-${tag}-t/traversal`)} })`,
        ),
      );
    }
    const s2 = await pat.evaluate<{ id: number; ok: boolean; error: string | null }>(
      'window.__attacker.session()',
    );
    const sub = await pat.evaluate<{ id: number | null; error: string | null }>(
      `window.__attacker.subscribe(${s2.id}, ${clinicianFeed})`,
    );
    const subFrames =
      sub.id === null ? 0 : await pat.evaluate<number>(`window.__attacker.waitFrames(${sub.id}, 10000)`);
    await sleep(2000);
    const recordingsDir = s.janus.recordingsDir;
    const files = {
      recordings: existsSync(recordingsDir)
        ? readdirSync(recordingsDir).filter((f) => f.endsWith('.mjr'))
        : [],
      attempted: attempted.map((p) => existsSync(join(p, '..'))),
    };

    // The clinician removes the patient.
    const attackerFrames = () =>
      sub.id === null ? Promise.resolve(0) : pat.evaluate<number>(`window.__attacker.frames(${sub.id})`);
    const clientFrames = async () => (await visitStats(pat)).totals.framesDecoded;
    const tKick = Date.now();
    await kick(s, v.clinician, v.participant);
    const attacker = [await attackerFrames()];
    const patientClient = [await clientFrames()];
    await sleep(Math.max(0, tKick + 2000 - Date.now()));
    attacker.push(await attackerFrames());
    patientClient.push(await clientFrames());
    await sleep(Math.max(0, tKick + 3000 - Date.now()));
    attacker.push(await attackerFrames());
    patientClient.push(await clientFrames());
    const clinicianRemoteFeeds = (
      await waitForStats(clin, (x) => x.feeds.length === 0, 'the clinician’s patient tiles go', 2000).catch(
        () => visitStats(clin),
      )
    ).feeds.length;

    // Everything the patient held, once more.
    const s3 = await pat.evaluate<{ id: number; ok: boolean; error: string | null }>(
      'window.__attacker.session()',
    );
    let retrySub: string | null = 'no session';
    let retryFrames = 0;
    if (s3.ok) {
      const r = await pat.evaluate<{ id: number | null; error: string | null }>(
        `window.__attacker.subscribe(${s3.id}, ${clinicianFeed})`,
      );
      retrySub = r.error;
      if (r.id !== null)
        retryFrames = await pat.evaluate<number>(`window.__attacker.waitFrames(${r.id}, 3000)`);
    }

    return {
      live: { clinician: clinLive.status, patient: patLive.status, patientFrames: seen.totals.framesDecoded },
      heldKeys: Object.keys(held).filter((k) => held[k] !== '' && held[k] !== 0 && held[k] !== null),
      secondFeed: { feed: second.feed, error: second.error },
      thirdFeed: { feed: third.feed, error: third.error },
      recordAnswers,
      files,
      attackerSubscriber: { error: sub.error, frames: subFrames },
      afterKick: { attacker, patientClient, clinicianRemoteFeeds },
      retry: { session: { ok: s3.ok, error: s3.error }, subscribe: retrySub, frames: retryFrames },
      totalMs: Date.now() - t0,
    };
  });
}

runDriver('media-kick-driver', main);
