/**
 * More than one Janus node: the session service places each new visit's room on the least-loaded healthy node,
 * and when a node dies, new rooms go to the nodes still alive. Real nats-server, two real Janus servers and the
 * built session service as a child process; bookings are appended to the event store the way scheduling does.
 */
import { randomBytes } from 'node:crypto';
import type { JetStreamEventStore } from '@haven/eventstore';
import {
  type JanusHandle,
  janusRoomExists,
  type ServiceProcess,
  startJanus,
  appendAppointmentBooked,
} from '@haven/testing';
import { roomNumberOf } from '../../services/session/src/visit/open-visit';
import { type SessionStack, startSessionStack } from './support/session-stack';

jest.setTimeout(120_000);

const tokenSecret = randomBytes(24).toString('base64url');
const adminKey = randomBytes(24).toString('base64url');
let stack: SessionStack;
const nodes: JanusHandle[] = [];
let session: ServiceProcess;
let store: JetStreamEventStore;

beforeAll(async () => {
  stack = await startSessionStack({
    name: 'placement-test',
    janusTokenSecret: tokenSecret,
    janus: async () => {
      nodes.push(
        ...(await Promise.all(
          [0, 1].map(() => startJanus({ tokenAuthSecret: tokenSecret, videoroomAdminKey: adminKey })),
        )),
      );
      return nodes.map((n) => n.wsUrl).join(',');
    },
    env: { HAVEN_JANUS_ADMIN_SECRET: adminKey },
  });
  ({ service: session, store } = stack);
});

afterAll(async () => {
  await stack?.stop();
  await Promise.all(nodes.map((n) => n.stop()));
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
