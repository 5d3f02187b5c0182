/**
 * The in-visit media proof, run INSIDE a network namespace by tests/e2e/visit-media.e2e.spec.ts: whole stack
 * (./stack.ts), front desk books over gRPC, the patient redeems the link and waits in the lobby, two headless
 * Chromiums run web/public/visit.js. Prints one JSON line ({@link VisitMediaResult}).
 */
import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { launchChromium, screenshot, type LaunchedChromium } from '../../support/browser';
import { connectJanusWs, signJanusToken } from '../../support/janus';
import { startStack, type Stack } from './stack';
import {
  admit,
  bookVisit,
  endVisit,
  joinLobby,
  joinMedia,
  kick,
  mediaBody,
  pageInbound,
  startVisit,
  visitStats,
  waitForStats,
  waitForVisitState,
  type VisitState,
  type VisitStats,
} from './visit-flow';
import { answerFromError, startVisitPages, TRACK_PEER_CONNECTIONS, type VisitPages } from './visit-pages';

/** What the driver prints. */
export interface VisitMediaResult {
  readonly timings: Record<string, number>;
  readonly gateway: { url: string | null; error: string | null };
  readonly beforeAdmission: {
    /** The patient's own media request (JoinMedia refused by session). */
    readonly mediaRequest: VisitState;
    /** A forged join with the real room + PIN + a valid core token, a made-up room token: Janus's answer. */
    readonly forgedJoin: VisitState;
    /** Inbound RTP over every peer connection of the patient page, sampled over a bounded window. */
    readonly inboundSamples: Array<{ bytes: number; packets: number; pcs: number }>;
  };
  readonly clinicianBeforeAdmission: VisitState;
  readonly afterAdmission: {
    readonly patient: VisitStats;
    readonly clinician: VisitStats;
    readonly admitToFirstFrameMs: number;
  };
  readonly screenShare: { started: boolean; patientScreenFrames: number; error?: string };
  readonly kick: {
    readonly patientState: VisitState;
    readonly inboundDeltaAfterKick: number;
    readonly pageRejoin: VisitState;
    readonly rawRejoinCode: number | string;
    readonly clinicianRemoteFeedsAfterKick: number;
  };
  readonly end: { readonly clinicianState: VisitState; readonly rawJoinCode: number | string };
  readonly csrf: { ok: number; missing: number };
  readonly screenshots: string[];
  readonly totalMs: number;
}

/** A raw Janus websocket join (publisher) with whatever credentials: 'joined' or the error code. */
async function rawJoin(
  stack: Stack,
  o: { room: string; pin: string; token?: string; coreToken: string },
): Promise<number | string> {
  const ws = await connectJanusWs(stack.janusWsUrl);
  try {
    const created = await ws.request({ janus: 'create', token: o.coreToken });
    if (created['janus'] !== 'success') return `create:${JSON.stringify(created['error'])}`;
    const sessionId = (created['data'] as { id: number }).id;
    const attached = await ws.request({
      janus: 'attach',
      session_id: sessionId,
      plugin: 'janus.plugin.videoroom',
      token: o.coreToken,
    });
    const handleId = (attached['data'] as { id: number }).id;
    const reply = await ws.request({
      janus: 'message',
      session_id: sessionId,
      handle_id: handleId,
      token: o.coreToken,
      body: {
        request: 'join',
        ptype: 'publisher',
        room: Number(o.room),
        pin: o.pin,
        display: 'raw',
        ...(o.token ? { token: o.token } : {}),
      },
    });
    const data = (reply['plugindata'] as { data: Record<string, unknown> } | undefined)?.data ?? {};
    return data['videoroom'] === 'joined' ? 'joined' : ((data['error_code'] as number | undefined) ?? -1);
  } finally {
    ws.close();
  }
}

async function main(): Promise<VisitMediaResult> {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  let stack: Stack | undefined;
  let pages: VisitPages | undefined;
  let a: LaunchedChromium | undefined;
  let b: LaunchedChromium | undefined;
  try {
    const [s, browsers] = await Promise.all([
      startStack(),
      Promise.all([launchChromium(), launchChromium()]),
    ]);
    stack = s;
    [a, b] = browsers;
    Object.assign(timings, Object.fromEntries(Object.entries(s.timings).map(([k, v]) => [`stack.${k}`, v])));
    const st = s;
    pages = await startVisitPages(st.janusWsUrl);
    const frontDesk = await st.login('front_desk');
    const clinician = await st.login('clinician');
    const tBook = Date.now();
    const v = await bookVisit(st, frontDesk, clinician);
    const participant = await joinLobby(st, v);
    timings['bookAndLobby'] = Date.now() - tBook;

    // Media endpoints with the gateway's contract.
    pages.setMedia('clinician', async () => ({
      ok: true,
      body: mediaBody(await joinMedia(st, v.visit, clinician.token)),
    }));
    pages.setMedia('patient', async () => {
      try {
        return { ok: true, body: mediaBody(await joinMedia(st, v.visit, v.patientToken)) };
      } catch (err) {
        return answerFromError(err);
      }
    });
    pages.setLeave('clinician', async () => undefined);
    pages.setLeave('patient', async () => undefined);

    await a.context.addInitScript(TRACK_PEER_CONNECTIONS);
    await b.context.addInitScript(TRACK_PEER_CONNECTIONS);
    const clinPage: Page = await a.context.newPage();
    const patPage: Page = await b.context.newPage();
    await Promise.all([clinPage.goto(`${pages.url}/visit.html`), patPage.goto(`${pages.url}/visit.html`)]);

    // Clinician joins and publishes.
    const tClin = Date.now();
    await startVisit(clinPage, {
      mediaUrl: '/api/test/media/clinician',
      leaveUrl: '/api/test/leave/clinician',
      role: 'clinician',
    });
    const clinicianBeforeAdmission = await waitForVisitState(
      clinPage,
      `s.status === 'live' || s.status === 'error'`,
    );
    if (clinicianBeforeAdmission.status !== 'live')
      throw new Error(`clinician could not join: ${JSON.stringify(clinicianBeforeAdmission)}`);
    timings['clinicianLive'] = Date.now() - tClin;
    const clinMedia = await joinMedia(st, v.visit, clinician.token);

    // Before admission: the patient's media request is refused, and a forged join is refused by Janus.
    await startVisit(patPage, {
      mediaUrl: '/api/test/media/patient',
      leaveUrl: '/api/test/leave/patient',
      role: 'patient',
    });
    const mediaRequest = await waitForVisitState(patPage, `s.status === 'error' || s.status === 'live'`);
    const coreToken = signJanusToken({ secret: st.janusTokenSecret, expiresAt: Date.now() + 10 * 60_000 });
    pages.setMedia('forged', async () => ({
      ok: true,
      body: {
        serverUrl: st.janusWsUrl,
        room: clinMedia.room,
        pin: clinMedia.pin,
        token: randomBytes(24).toString('base64url'),
        janusToken: coreToken,
        displayName: participant.split('/').pop() ?? 'patient',
      },
    }));
    await startVisit(patPage, {
      mediaUrl: '/api/test/media/forged',
      leaveUrl: '/api/test/leave/patient',
      role: 'patient',
    });
    const forgedJoin = await waitForVisitState(patPage, `s.status === 'error' || s.status === 'live'`);
    await screenshot(patPage, 'visit-media-patient-not-admitted');
    const inboundSamples: Array<{ bytes: number; packets: number; pcs: number }> = [];
    for (let i = 0; i < 6; i++) {
      const x = await pageInbound(patPage);
      inboundSamples.push({ bytes: x.bytes, packets: x.packets, pcs: x.pcs });
      await new Promise((r) => setTimeout(r, 250));
    }

    // Admission: both sides decode video and receive audio.
    const tAdmit = Date.now();
    await admit(st, clinician, participant);
    await startVisit(patPage, {
      mediaUrl: '/api/test/media/patient',
      leaveUrl: '/api/test/leave/patient',
      role: 'patient',
    });
    await waitForStats(patPage, (x) => x.totals.framesDecoded > 0, 'patient decodes video', 15_000);
    const admitToFirstFrameMs = Date.now() - tAdmit;
    const patientStats = await waitForStats(
      patPage,
      (x) => x.totals.framesDecoded > 5 && x.totals.audioPacketsReceived > 0,
      'patient decodes video and receives audio',
      15_000,
    );
    const clinicianStats = await waitForStats(
      clinPage,
      (x) => x.totals.framesDecoded > 5 && x.totals.audioPacketsReceived > 0,
      'clinician decodes video and receives audio',
      15_000,
    );
    timings['admitToFlowing'] = Date.now() - tAdmit;

    // Screen share from the clinician: a second feed the patient subscribes to.
    const screenShare: VisitMediaResult['screenShare'] = { started: false, patientScreenFrames: 0 };
    try {
      screenShare.started = await clinPage.evaluate<boolean>(
        `Promise.race([window.HavenVisit.toggleShare(), new Promise((r) => setTimeout(() => r(false), 8000))])`,
      );
      if (screenShare.started) {
        const sx = await waitForStats(
          patPage,
          (x) => x.feeds.some((f) => f.description === 'screen' && f.framesDecoded > 0),
          'patient decodes the screen share',
          10_000,
        );
        screenShare.patientScreenFrames =
          sx.feeds.find((f) => f.description === 'screen')?.framesDecoded ?? 0;
      }
    } catch (err) {
      screenShare.error = err instanceof Error ? err.message.slice(0, 300) : String(err);
    }
    await new Promise((r) => setTimeout(r, 300));
    const shots = [
      await screenshot(clinPage, 'visit-media-clinician-in-visit'),
      await screenshot(patPage, 'visit-media-patient-in-visit'),
    ];

    // Kick: the patient's media stops; a rejoin is refused (by session and by Janus).
    const patientMedia = await joinMedia(st, v.visit, v.patientToken);
    await kick(st, clinician, participant);
    const patientState = await waitForVisitState(
      patPage,
      `s.status === 'kicked' || s.status === 'error'`,
      10_000,
    );
    const k1 = await pageInbound(patPage);
    await new Promise((r) => setTimeout(r, 1500));
    const k2 = await pageInbound(patPage);
    const clinAfterKick = await waitForStats(
      clinPage,
      (x) => x.feeds.length === 0,
      'the clinician’s patient tile goes away',
      10_000,
    ).catch(() => visitStats(clinPage));
    await startVisit(patPage, {
      mediaUrl: '/api/test/media/patient',
      leaveUrl: '/api/test/leave/patient',
      role: 'patient',
    });
    const pageRejoin = await waitForVisitState(patPage, `s.status === 'error' || s.status === 'live'`);
    const rawRejoinCode = await rawJoin(st, {
      room: patientMedia.room,
      pin: patientMedia.pin,
      token: patientMedia.token,
      coreToken: patientMedia.janusToken,
    });
    shots.push(await screenshot(patPage, 'visit-media-patient-kicked'));

    // End: the room is gone.
    await endVisit(st, clinician, v.visit);
    const clinicianEnd = await waitForVisitState(
      clinPage,
      `s.status === 'ended' || s.status === 'error'`,
      10_000,
    );
    const rawJoinCode = await rawJoin(st, {
      room: clinMedia.room,
      pin: clinMedia.pin,
      token: clinMedia.token,
      coreToken,
    });
    shots.push(await screenshot(clinPage, 'visit-media-clinician-ended'));

    return {
      timings,
      gateway: { url: st.gatewayUrl, error: st.gatewayError ? st.gatewayError.slice(0, 500) : null },
      beforeAdmission: { mediaRequest, forgedJoin, inboundSamples },
      clinicianBeforeAdmission,
      afterAdmission: { patient: patientStats, clinician: clinicianStats, admitToFirstFrameMs },
      screenShare,
      kick: {
        patientState,
        inboundDeltaAfterKick: k2.bytes - k1.bytes,
        pageRejoin,
        rawRejoinCode,
        clinicianRemoteFeedsAfterKick: clinAfterKick.feeds.length,
      },
      end: { clinicianState: clinicianEnd, rawJoinCode },
      csrf: { ...pages.csrf },
      screenshots: shots,
      totalMs: Date.now() - t0,
    };
  } catch (err) {
    const logs = stack?.logs(15) ?? '';
    throw new Error(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n${logs}`, {
      cause: err,
    });
  } finally {
    await Promise.all([a?.close(), b?.close()]);
    await pages?.close();
    await stack?.stop();
  }
}

main().then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`visit-media-driver failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
