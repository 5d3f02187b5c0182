/**
 * More than one Janus node: the session service places each new visit's room on the least-loaded healthy node,
 * and when a node dies, new rooms go to the nodes still alive. Real nats-server, two real Janus servers and the
 * built session service as a child process; bookings are appended to the event store the way scheduling does.
 */
import { randomBytes } from 'node:crypto';
import { JetStreamEventStore } from '@haven/eventstore';
import { createTestIssuer } from '@haven/service/testing';
import {
  freePort,
  type JanusHandle,
  janusRoomExists,
  type JwksServer,
  type NatsServerHandle,
  serveJwks,
  type ServiceProcess,
  startJanus,
  startNatsServer,
  startServiceProcess,
  appendAppointmentBooked,
} from '@haven/testing';
import { roomNumberOf } from '../../services/session/src/visit/open-visit';

jest.setTimeout(120_000);

const tokenSecret = randomBytes(24).toString('base64url');
const adminKey = randomBytes(24).toString('base64url');
const issuer = createTestIssuer();
let nats: NatsServerHandle;
const nodes: JanusHandle[] = [];
let jwks: JwksServer;
let session: ServiceProcess;
let store: JetStreamEventStore;

beforeAll(async () => {
  nats = await startNatsServer();
  nodes.push(
    ...(await Promise.all(
      [0, 1].map(() => startJanus({ tokenAuthSecret: tokenSecret, videoroomAdminKey: adminKey })),
    )),
  );
  jwks = await serveJwks(issuer.jwks);
  const [grpcPort, httpPort] = await Promise.all([freePort(), freePort()]);
  session = await startServiceProcess('session', grpcPort, {
    ...nats.env('session'),
    HAVEN_JWKS_URL: `${jwks.origin}/jwks`,
    HAVEN_HTTP_PORT: String(httpPort),
    HAVEN_JANUS_WS_URLS: nodes.map((n) => n.wsUrl).join(','),
    HAVEN_JANUS_TOKEN_SECRET: tokenSecret,
    HAVEN_JANUS_ADMIN_SECRET: adminKey,
  });
  store = await JetStreamEventStore.connect({ ...nats.operator, name: 'placement-test' });
});

afterAll(async () => {
  await store?.close();
  await session?.stop();
  await Promise.all(nodes.map((n) => n.stop()));
  await nats?.stop();
  await jwks?.close();
});

const book = (): Promise<string> =>
  appendAppointmentBooked(store, { clinicianId: 'clin-1', patientId: 'pat-1' });

/** The node the visit was opened on, once VisitOpened exists (bounded: ≤ 30 s, ≤ 300 polls). */
async function placedOn(appointmentId: string): Promise<string> {
  const until = Date.now() + 30_000;
  for (let i = 0; i < 300 && Date.now() < until; i++) {
    const [opened] = await store.read(`session.visit-${appointmentId}`);
    if (opened) return String(opened.data['janusNode']);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`visit ${appointmentId} was not opened:\n${session.output().slice(-2000)}`);
}

const nodeIndex = (id: string) => Number(id.replace('janus-', ''));

describe('with two Janus nodes', () => {
  it('spreads new rooms over the nodes, each room on the node the visit names', async () => {
    const first = await book();
    const firstNode = await placedOn(first);
    const second = await book();
    const secondNode = await placedOn(second);
    expect(new Set([firstNode, secondNode])).toEqual(new Set(['janus-0', 'janus-1']));
    for (const [visit, node] of [
      [first, firstNode],
      [second, secondNode],
    ] as const) {
      const i = nodeIndex(node);
      expect(await janusRoomExists(nodes[i]!.wsUrl, tokenSecret, roomNumberOf(visit))).toBe(true);
      expect(await janusRoomExists(nodes[1 - i]!.wsUrl, tokenSecret, roomNumberOf(visit))).toBe(false);
    }
  });

  it('places new rooms on the surviving node when one dies', async () => {
    await nodes[0]!.stop();
    const visits = [await book(), await book()];
    for (const visit of visits) {
      expect(await placedOn(visit)).toBe('janus-1');
      expect(await janusRoomExists(nodes[1]!.wsUrl, tokenSecret, roomNumberOf(visit))).toBe(true);
    }
  });
});
