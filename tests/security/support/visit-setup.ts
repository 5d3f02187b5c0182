/**
 * What the media attacker suites share: an admitted visit over the real services (front desk books, the patient
 * redeems their link and waits, the clinician admits), the visit's events and the session service's refusals
 * read straight from the event store, and the test's own privileged view of a Janus room (the tests hold the
 * stack's Janus secrets; no participant ever does) to see which feeds are really there.
 */
import { JetStreamEventStore, type EventEnvelope, type EventStore } from '@haven/eventstore';
import type { session } from '@haven/proto';
import { accessRefusalStream } from '@haven/service';
import { roomCredentials, roomNumberOf } from '../../../services/session/src/visit/open-visit';
import { admit, bookVisit, joinLobby, joinMedia, type BookedVisit } from '../../e2e/support/visit-flow';
import { startStack, type Stack, type StackOptions, type StackUser } from '../../e2e/support/stack';
import {
  attachVideoRoom,
  connectJanusWs,
  type JanusWsClient,
  type MediaClient,
  signJanusToken,
} from '@haven/testing';

/** A visit with its patient admitted. */
export interface AdmittedVisit extends BookedVisit {
  readonly visitId: string;
  readonly room: number;
  readonly clinician: StackUser;
  /** `visits/{v}/participants/{p}` of the patient. */
  readonly participant: string;
  readonly patientPid: string;
  /** The clinician's participant id (`participantIdOf` their principal). */
  readonly clinicianPid: string;
}

let slot = 0;

/**
 * Books a one-minute visit in the next free minute (the stack's one clinician cannot have overlapping
 * appointments; a patient link opens 15 minutes ahead, so at most ~12 per stack), puts the patient in the lobby
 * and admits them.
 */
export async function admittedVisit(stack: Stack): Promise<AdmittedVisit> {
  const [frontDesk, clinician] = await Promise.all([stack.login('front_desk'), stack.login('clinician')]);
  slot += 1;
  const v = await bookVisit(stack, frontDesk, clinician, { startInMinutes: 1 + slot, durationMinutes: 1 });
  const participant = await joinLobby(stack, v);
  await admit(stack, clinician, participant);
  const clinicianAccess = await joinMedia(stack, v.visit, clinician.token);
  return {
    ...v,
    visitId: v.appointmentId,
    room: roomNumberOf(v.appointmentId),
    clinician,
    participant,
    patientPid: participant.split('/').pop() ?? '',
    clinicianPid: clinicianAccess.participant.split('/').pop() ?? '',
  };
}

/** The visit's events, in order. */
export function visitEvents(store: EventStore, visitId: string): Promise<EventEnvelope[]> {
  return store.read(`session.visit-${visitId}`);
}

/** A service's AccessRefused events of this hour and the last (the recorder's streams). */
export async function refusalsOf(store: EventStore, service: string): Promise<EventEnvelope[]> {
  const now = new Date();
  const streams = [
    ...new Set([
      accessRefusalStream(service, new Date(now.getTime() - 3600_000)),
      accessRefusalStream(service, now),
    ]),
  ];
  return (await Promise.all(streams.map((s) => store.read(s)))).flat();
}

/** The session service's AccessRefused events of this hour and the last. */
export function sessionRefusals(store: EventStore): Promise<EventEnvelope[]> {
  return refusalsOf(store, 'session');
}

/** A JoinMedia for whoever holds `token` (on a given session replica). */
export function mediaFor(
  stack: Stack,
  visit: string,
  token: string,
  replica = 0,
): Promise<session.JoinMediaResponse> {
  const client = stack.sessionReplicas[replica];
  if (!client) throw new Error(`no session replica ${replica}`);
  return joinMedia({ ...stack, clients: { ...stack.clients, session: client } }, visit, token);
}

/** A participant of a room as Janus lists it. */
export interface RoomParticipant {
  readonly id: number;
  readonly display?: string;
  readonly publisher?: boolean;
}

/**
 * The test's own privileged videoroom handle on the stack's Janus (core token signed with the node's secret;
 * room secret and PIN derived from the room key the stack gives the session service, which is the token secret).
 */
export class PrivilegedRoom {
  private constructor(
    private readonly ws: JanusWsClient,
    private readonly core: string,
    private readonly sessionId: number,
    private readonly handleId: number,
    readonly room: number,
    readonly secret: string,
    readonly pin: string,
  ) {}

  static async open(stack: Stack, visitId: string): Promise<PrivilegedRoom> {
    const ws = await connectJanusWs(stack.janusWsUrl);
    const core = signJanusToken({ secret: stack.janusTokenSecret, expiresAt: Date.now() + 10 * 60_000 });
    const { sessionId, handleId } = await attachVideoRoom(ws, core);
    const { secret, pin } = roomCredentials(stack.janusTokenSecret, visitId);
    return new PrivilegedRoom(ws, core, sessionId, handleId, roomNumberOf(visitId), secret, pin);
  }

  /** A videoroom request on the privileged handle; resolves with `plugindata.data`. */
  async send(body: Record<string, unknown>, handleId = this.handleId): Promise<Record<string, unknown>> {
    const r = await this.ws.request({
      janus: 'message',
      session_id: this.sessionId,
      handle_id: handleId,
      token: this.core,
      body,
    });
    return (r['plugindata'] as { data?: Record<string, unknown> } | undefined)?.data ?? {};
  }

  /** Another handle on the same session (e.g. to join the room as a publisher). */
  async handle(): Promise<number> {
    const attached = await this.ws.request({
      janus: 'attach',
      session_id: this.sessionId,
      plugin: 'janus.plugin.videoroom',
      token: this.core,
    });
    return (attached['data'] as { id: number }).id;
  }

  /** Everyone in the room (publishers, with their displays). */
  async participants(): Promise<RoomParticipant[]> {
    const data = await this.send({ request: 'listparticipants', room: this.room, secret: this.secret });
    return (data['participants'] as RoomParticipant[] | undefined) ?? [];
  }

  close(): void {
    this.ws.close();
  }
}

/** A media suite's stack, its event-store connection, and what it opens that the suite closes after its tests. */
export interface MediaSuite {
  /** The running stack (from the suite's `beforeAll` on). */
  readonly stack: Stack;
  /** A connection to the stack's event store (from the suite's `beforeAll` on). */
  readonly store: JetStreamEventStore;
  /** Keeps `client` to close after the suite; returns it. */
  keep<C extends MediaClient>(client: C): C;
  /** The test's privileged view of a visit's room, closed after the suite. */
  privileged(visitId: string): Promise<PrivilegedRoom>;
}

/**
 * Registers the suite's hooks: before all, the stack (`options`) and a store connection named `storeName`; after
 * all, the kept media clients, the privileged rooms, the store and the stack, in that order. Call it at the top of
 * a spec file. Its `stack` and `store` throw when read before the suite's `beforeAll` ran.
 */
export function mediaSuite(options: StackOptions, storeName: string): MediaSuite {
  let stack: Stack | undefined;
  let store: JetStreamEventStore | undefined;
  const clients: MediaClient[] = [];
  const rooms: PrivilegedRoom[] = [];
  beforeAll(async () => {
    stack = await startStack(options);
    store = await JetStreamEventStore.connect({ ...stack.nats.operator, name: storeName });
  }, 90_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const r of rooms) r.close();
    await store?.close();
    await stack?.stop();
  });
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is not started yet (the suite's beforeAll starts it)`);
    return value;
  };
  return {
    get stack() {
      return started(stack, 'the stack');
    },
    get store() {
      return started(store, 'the store connection');
    },
    keep(client) {
      clients.push(client);
      return client;
    },
    async privileged(visitId) {
      const room = await PrivilegedRoom.open(started(stack, 'the stack'), visitId);
      rooms.push(room);
      return room;
    },
  };
}
