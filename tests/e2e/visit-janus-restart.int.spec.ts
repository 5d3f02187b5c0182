/**
 * Janus as a real dependency: when Janus restarts (all rooms lost), the session service reconnects with back-off
 * and recreates every open visit's room with its allow-list. Room tokens are derived from the room key, so an
 * admitted participant's media credential works again through the media proxy (clients rejoin) and nothing else
 * does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import type { JetStreamEventStore } from '@haven/eventstore';
import { session } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import {
  connectJanusWs,
  freePort,
  generateJanusConfig,
  type JanusWsClient,
  joinAsPublisher,
  type MediaClient,
  publishThrough,
  signJanusToken,
  appendAppointmentBooked,
  eventually,
} from '@haven/testing';
import { roomCredentials, roomNumberOf } from '../../services/session/src/visit/open-visit';
import { type SessionStack, startSessionStack } from './support/session-stack';

jest.setTimeout(150_000);

const tokenSecret = randomBytes(24).toString('base64url');
let stack: SessionStack;
let base: string;
let configFile: string;
let wsUrl: string;
let janusProcess: ChildProcess | undefined;
let client: session.SessionServiceClient;
let store: JetStreamEventStore;
const sockets: JanusWsClient[] = [];
const mediaClients: MediaClient[] = [];
let httpPort = 0;

/** Starts Janus on the generated config (fixed ports) and waits until it answers `info` (≤ 15 s). */
async function startJanusProcess(): Promise<void> {
  const child = spawn('janus', ['-F', join(base, 'cfg'), '-C', configFile], { stdio: 'ignore' });
  janusProcess = child;
  const until = Date.now() + 15_000;
  for (let i = 0; i < 150 && Date.now() < until; i++) {
    if (child.exitCode !== null) throw new Error('janus exited during start-up');
    try {
      const ws = await connectJanusWs(wsUrl, { timeoutMs: 500 });
      try {
        if ((await ws.request({ janus: 'info' }, { timeoutMs: 1000 }))['janus'] === 'server_info') return;
      } finally {
        ws.close();
      }
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('janus not ready within 15 s');
}

async function killJanus(): Promise<void> {
  const child = janusProcess;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await exited;
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'haven-janus-restart-'));
  stack = await startSessionStack({
    name: 'janus-restart-test',
    janusTokenSecret: tokenSecret,
    janus: async () => {
      const cfg = generateJanusConfig({
        dir: join(base, 'cfg'),
        recordingsDir: join(base, 'recordings'),
        logFile: join(base, 'janus.log'),
        wsPort: await freePort(),
        adminSecret: randomBytes(16).toString('base64url'),
        tokenAuthSecret: tokenSecret,
      });
      configFile = cfg.configFile;
      wsUrl = cfg.wsUrl;
      await startJanusProcess();
      return wsUrl;
    },
    env: { HAVEN_RECORDINGS_DIR: join(base, 'recordings') },
  });
  ({ client, store, httpPort } = stack);
});

afterAll(async () => {
  for (const s of sockets) s.close();
  for (const m of mediaClients) m.close();
  await stack?.stop();
  await killJanus();
  if (base) rmSync(base, { recursive: true, force: true });
});

async function rawJoin(
  room: number,
  pin: string,
  token: string,
  display: string,
): Promise<'joined' | number> {
  const ws = await connectJanusWs(wsUrl);
  sockets.push(ws);
  const core = signJanusToken({ secret: tokenSecret, expiresAt: new Date(Date.now() + 60_000) });
  return (await joinAsPublisher(ws, core, { room, display, pin, token })).outcome;
}

/** A booked visit with its patient admitted: the visit id and the clinician's and patient's call metadata. */
async function admittedVisit(): Promise<{
  visitId: string;
  clinician: grpc.Metadata;
  patient: grpc.Metadata;
}> {
  const visitId = await appendAppointmentBooked(store, { clinicianId: 'clin-a', patientId: 'pat-1' });
  const clinician = clientCallMetadata({
    token: await stack.identity.sign({ sub: 'clin-a', role: 'clinician' }),
  });
  const patient = clientCallMetadata({
    token: await stack.scheduling.sign({ sub: 'pp-1', kind: 'patient', visit: `visits/${visitId}` }),
  });
  let lobby: session.JoinLobbyResponse | undefined;
  for (let i = 0; i < 100 && !lobby; i++) {
    lobby = await callUnary(
      client,
      'joinLobby',
      { appointment: `appointments/${visitId}`, displayName: '' },
      patient,
    ).catch(() => undefined);
    if (!lobby) await new Promise((r) => setTimeout(r, 50));
  }
  expect(lobby?.participant?.state).toBe(session.ParticipantState.PARTICIPANT_STATE_WAITING);
  await callUnary(client, 'admitParticipant', { name: lobby!.participant!.name, requestId: '' }, clinician);
  return { visitId, clinician, patient };
}

it('recreates the room and its allow-list after Janus restarts; the admitted credential works again', async () => {
  const { visitId, clinician, patient } = await admittedVisit();
  const media = await callUnary(client, 'joinMedia', { visit: `visits/${visitId}` }, patient);
  const room = roomNumberOf(visitId);
  const { pin } = roomCredentials(tokenSecret, visitId);
  const bearer = (patient.get('authorization')[0] as string).replace(/^Bearer /, '');
  const proxyJoin = async (): Promise<{ outcome: 'joined' | number; client: MediaClient }> => {
    const r = await publishThrough(
      { url: `ws://127.0.0.1:${httpPort}/media`, headers: { authorization: `Bearer ${bearer}` } },
      media.mediaCredential,
    );
    mediaClients.push(r.client);
    return r;
  };
  const before = await proxyJoin();
  expect(before.outcome).toBe('joined');

  await killJanus();
  // The participant's media connection ends with Janus (the page reconnects).
  expect((await before.client.closedWithin(5000))?.code).toBe(1011);
  await startJanusProcess();

  // The service reconnects and recreates the room: the admitted credential joins again, a made-up token does not.
  // Time-bounded, not counted: on a loaded machine the reconnect to the new Janus takes longer.
  const outcome = await eventually(
    'the admitted credential joins the recreated room',
    () =>
      proxyJoin()
        .then((r) => r.outcome === 'joined' && r.outcome)
        .catch(() => false),
    { timeoutMs: 45_000, intervalMs: 100 },
  );
  expect(outcome).toBe('joined');
  expect(await rawJoin(room, pin, randomBytes(32).toString('base64url'), 'intruder')).toBe(433);

  // And the service is still in charge of the room: ending destroys it on the new Janus.
  await callUnary(client, 'endVisit', { name: `visits/${visitId}`, requestId: '' }, clinician);
  expect(await rawJoin(room, pin, randomBytes(32).toString('base64url'), 'intruder')).toBe(426);
  expect((await proxyJoin()).outcome).toBe(403);
});

it('marks the recording partial when Janus dies mid-recording, and keeps the consents for the next one', async () => {
  const { visitId, clinician, patient } = await admittedVisit();
  const visit = `visits/${visitId}`;
  await callUnary(client, 'joinMedia', { visit }, clinician);
  await callUnary(
    client,
    'recordConsent',
    {
      visit,
      participant: '',
      scope: session.ConsentScope.CONSENT_SCOPE_RECORDING,
      granted: true,
      requestId: '',
    },
    patient,
  );
  const started = await callUnary(client, 'startRecording', { visit }, clinician);
  expect(started.pending).toBe(false);

  await killJanus();
  await startJanusProcess();

  const restarted = Date.now();
  const stopped = await eventually(
    'RecordingStopped after the Janus restart',
    async () =>
      (await store.read(`session.visit-${visitId}`)).find(
        (e) => e.type === 'haven.session.v1.RecordingStopped',
      )?.data,
    { timeoutMs: 45_000, intervalMs: 100 },
  );
  console.log(`janus restart: the recording marked stopped (partial) ${Date.now() - restarted} ms after it`);
  expect(stopped).toMatchObject({
    recordingId: started.recording.replace('recordings/', ''),
    reason: 'media_node_lost',
    partial: true,
  });
  // The room is back (recreated) and not recording; the clinician may start a new recording at once.
  const again = await eventually(
    'a new recording starts on the recreated room',
    () => callUnary(client, 'startRecording', { visit }, clinician).catch(() => undefined),
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  expect(again.pending).toBe(false);
  expect(again.recording).not.toBe(started.recording);
  await callUnary(client, 'endVisit', { name: visit, requestId: '' }, clinician);
});
