/**
 * The event plane from outside, the way an attacker on the host or a compromised service would try it: a plain
 * nats.js client, a raw TCP socket speaking the NATS protocol, and each service's own NATS user, against a real
 * nats-server configured exactly as the dev stack and the chart configure it (@haven/testing startNatsServer,
 * permissions from packages/eventstore/src/nats-permissions.ts).
 *
 * - nobody connects or publishes without credentials;
 * - a service user cannot publish into another context's event-store or bus subjects; a forged event never
 *   reaches the store;
 * - no service user can update, delete or purge a stream or delete a message (the operator alone can change
 *   streams), nor erase other services' checkpoints with a roll-up header;
 * - through the running services (identity, scheduling, audit): a well-formed envelope naming a clinician as
 *   actor, published by an outside client, is refused and never shows up in ListAuditEvents.
 */
import { randomUUID } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { headers as natsHeaders, StringCodec, type NatsConnection } from 'nats';
import {
  BUS_STREAM,
  CHECKPOINT_BUCKET,
  EVENT_STORE_STREAM,
  HAVEN_SERVICE_USERS,
  REVOCATIONS_STREAM,
  JetStreamEventStore,
  encodeEnvelope,
  newEvent,
  provisionHavenStreams,
  type EventEnvelope,
  type HavenServiceUser,
} from '@haven/eventstore';
import { audit } from '@haven/proto';
import { clientCallMetadata } from '@haven/service';
import { natsSuite, type NatsServerHandle, readAuditLedger, startNatsServer } from '@haven/testing';
import { startServiceStack, type ServiceStack } from '../support/service-stack';

jest.setTimeout(120_000);

const STREAMS = [EVENT_STORE_STREAM, BUS_STREAM, `KV_${CHECKPOINT_BUCKET}`, REVOCATIONS_STREAM];

/** A well-formed event-store envelope for `stream` (`<context>.<aggregate>-<id>`) naming `actorId` as actor. */
function forgedEnvelope(stream: string, actorId: string): EventEnvelope {
  const event = newEvent({
    type: 'haven.scheduling.v1.AppointmentCancelled',
    data: { appointmentId: stream.split('-').slice(1).join('-'), reason: 'forged' },
    actor: { kind: 'user', id: actorId },
  });
  return { ...event, stream, revision: 0n };
}

/** `haven.es.<context>.<aggregate>.<id>` of a stream name. */
const esSubject = (stream: string): string => {
  const [context, rest] = stream.split('.') as [string, string];
  const dash = rest.indexOf('-');
  return `haven.es.${context}.${rest.slice(0, dash)}.${rest.slice(dash + 1)}`;
};

/** Publishes `envelope` on its event-store subject the way the JetStream store does (headers, ack). */
async function publishEnvelope(
  nc: NatsConnection,
  envelope: EventEnvelope,
  subject = esSubject(envelope.stream),
) {
  const h = natsHeaders();
  h.set('Haven-Revision', '0');
  return nc
    .jetstream()
    .publish(subject, encodeEnvelope(envelope), { msgID: envelope.id, headers: h, timeout: 3_000 });
}

/** Sends raw NATS protocol lines over TCP and resolves with what the server answered within `ms`. */
function rawNats(port: number, lines: string, ms = 1_500): Promise<string> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = netConnect({ host: '127.0.0.1', port }, () => socket.write(lines));
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (answer += d));
    socket.on('error', () => undefined);
    setTimeout(() => {
      socket.destroy();
      resolve(answer);
    }, ms);
  });
}

async function messagesOn(nats: NatsServerHandle, stream: string, subject: string): Promise<number> {
  const nc = await nats.connect();
  try {
    const info = await (await nc.jetstreamManager()).streams.info(stream, { subjects_filter: subject });
    return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  } finally {
    await nc.drain();
  }
}

describe('NATS: nothing anonymous', () => {
  const suite = natsSuite();

  it('refuses a nats.js client without a client certificate, even with the right password', async () => {
    const { connect } = await import('nats');
    const { tls, ...scheduling } = suite.server.client('scheduling');
    if (!tls) throw new Error('the test server runs without TLS');
    // The CA is trusted (the server's certificate checks out); the client has no certificate of its own.
    await expect(
      connect({ ...scheduling, tls: { caFile: tls.caFile }, reconnect: false, timeout: 5_000 }),
    ).rejects.toThrow();
    await expect(connect({ servers: suite.server.url, reconnect: false, timeout: 5_000 })).rejects.toThrow();
    // The same user with its certificate gets in: the refusals above are the certificate's.
    const nc = await connect({ ...suite.server.client('scheduling'), reconnect: false });
    await nc.close();
  });

  it('refuses a client with a certificate but without credentials, with a wrong password, or an unknown user', async () => {
    const { connect } = await import('nats');
    const pki = suite.server.pki;
    if (!pki) throw new Error('the test server runs without TLS');
    const tls = { caFile: pki.caFile, ...pki.files('integration') };
    const servers = suite.server.url;
    await expect(connect({ servers, tls, reconnect: false })).rejects.toThrow(/Authorization Violation/);
    await expect(
      connect({ servers, tls, user: 'scheduling', pass: 'not-the-password', reconnect: false }),
    ).rejects.toThrow(/Authorization Violation/);
    await expect(connect({ servers, tls, user: 'mallory', pass: 'x', reconnect: false })).rejects.toThrow(
      /Authorization Violation/,
    );
  });

  it('never serves a raw plaintext protocol client that publishes a forged event', async () => {
    const stream = `scheduling.appointment-${randomUUID()}`;
    const body = Buffer.from(encodeEnvelope(forgedEnvelope(stream, 'u-clinician')));
    const answer = await rawNats(
      suite.server.port,
      `CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\nPUB ${esSubject(stream)} ${body.length}\r\n${body.toString()}\r\nPING\r\n`,
    );
    // The server announces TLS with client certificates and reads nothing in the clear.
    expect(answer).toContain('"tls_verify":true');
    expect(answer).not.toContain('PONG');
    expect(await messagesOn(suite.server, EVENT_STORE_STREAM, esSubject(stream))).toBe(0);
  });
});

describe('NATS: each service publishes only in its own context', () => {
  let nats: NatsServerHandle;
  const connections = new Map<HavenServiceUser, NatsConnection>();
  beforeAll(async () => {
    nats = await startNatsServer();
    for (const user of HAVEN_SERVICE_USERS) connections.set(user, await nats.connect(user));
  });
  afterAll(async () => {
    for (const nc of connections.values()) await nc.drain().catch(() => undefined);
    await nats?.stop();
  });

  it.each(HAVEN_SERVICE_USERS)(
    '%s cannot write another context into the event store or onto the bus',
    async (user) => {
      const nc = connections.get(user)!;
      for (const other of HAVEN_SERVICE_USERS.filter((o) => o !== user)) {
        const stream = `${other}.thing-${randomUUID()}`;
        await expect(publishEnvelope(nc, forgedEnvelope(stream, 'u-clinician'))).rejects.toThrow(
          /Permissions Violation for Publish to "haven\.es\./,
        );
        await expect(
          publishEnvelope(nc, forgedEnvelope(stream, 'u-clinician'), `haven.bus.${other}.thing.Forged`),
        ).rejects.toThrow(/Permissions Violation for Publish to "haven\.bus\./);
        // Another service's refusals are not its to write either.
        await expect(
          publishEnvelope(nc, forgedEnvelope(`security.refusals_${other}-2026120604`, 'u-x')),
        ).rejects.toThrow(/Permissions Violation/);
        expect(await messagesOn(nats, EVENT_STORE_STREAM, esSubject(stream))).toBe(0);
      }
      // Its own context works (the same client, the same code path).
      const own = await publishEnvelope(nc, forgedEnvelope(`${user}.thing-${randomUUID()}`, 'u-1'));
      expect(own.stream).toBe(EVENT_STORE_STREAM);
    },
  );

  it('lets identity alone publish a revocation', async () => {
    const sc = StringCodec();
    for (const user of HAVEN_SERVICE_USERS.filter((u) => u !== 'identity')) {
      await expect(
        connections
          .get(user)!
          .jetstream()
          .publish('haven.identity.revocations', sc.encode('{}'), { timeout: 3_000 }),
      ).rejects.toThrow(/Permissions Violation/);
    }
  });

  it('lets no service read another service’s replies', async () => {
    const spy = connections.get('gateway')!;
    const sub = spy.subscribe('_INBOX_identity.>');
    let received = 0;
    const ended = (async () => {
      for await (const _ of sub) received += 1;
      return 'ended';
    })().catch((e: unknown) => String(e));
    await spy.flush().catch(() => undefined);
    // Identity asks JetStream something: the answer goes to identity's own inbox.
    await (await connections.get('identity')!.jetstreamManager()).streams.info(EVENT_STORE_STREAM);
    const outcome = await Promise.race([
      ended,
      new Promise((r) => setTimeout(() => r('still subscribed'), 3_000)),
    ]);
    expect(outcome).toMatch(/Permissions Violation for Subscription to "_INBOX_identity\.>"/);
    expect(received).toBe(0);
  });
});

describe('NATS: only the operator changes streams', () => {
  const suite = natsSuite();

  it.each(HAVEN_SERVICE_USERS)(
    '%s cannot update, delete or purge any stream, nor delete a message',
    async (user) => {
      // One stored event, so a message delete has a target.
      const operator = await JetStreamEventStore.connect({ ...suite.server.operator, name: 'seed' });
      const { position } = await operator.append(`${user}.thing-${randomUUID()}`, 'no_stream', [
        newEvent({ type: 'haven.test.v1.Seeded', data: {}, actor: { kind: 'service', id: 'test' } }),
      ]);
      await operator.close();
      const nc = await suite.server.connect(user);
      try {
        const jsm = await nc.jetstreamManager();
        for (const stream of STREAMS) {
          const info = await jsm.streams.info(stream);
          await expect(jsm.streams.update(stream, { ...info.config, max_msgs: 60 })).rejects.toThrow(
            /Permissions Violation/,
          );
          await expect(jsm.streams.delete(stream)).rejects.toThrow(/Permissions Violation/);
          await expect(jsm.streams.purge(stream)).rejects.toThrow(/Permissions Violation/);
          await expect(jsm.streams.add({ ...info.config, name: `${stream}_COPY` })).rejects.toThrow(
            /Permissions Violation/,
          );
        }
        await expect(jsm.streams.deleteMessage(EVENT_STORE_STREAM, Number(position))).rejects.toThrow(
          /Permissions Violation/,
        );
        await expect(jsm.streams.deleteMessage(EVENT_STORE_STREAM, Number(position), false)).rejects.toThrow(
          /Permissions Violation/,
        );
        expect((await jsm.streams.info(EVENT_STORE_STREAM)).config.max_msgs).toBe(-1);
        expect((await jsm.streams.getMessage(EVENT_STORE_STREAM, { seq: Number(position) })).seq).toBe(
          Number(position),
        );
      } finally {
        await nc.drain();
      }
    },
  );

  it('refuses a roll-up header that would erase every other service’s checkpoint', async () => {
    const session = await suite.server.connect('session');
    const scheduling = await suite.server.connect('scheduling');
    try {
      await scheduling
        .jetstream()
        .publish(`$KV.${CHECKPOINT_BUCKET}.relay.scheduling`, StringCodec().encode('42'));
      const h = natsHeaders();
      h.set('Nats-Rollup', 'all');
      await expect(
        session.jetstream().publish(`$KV.${CHECKPOINT_BUCKET}.session.bookings`, StringCodec().encode('1'), {
          headers: h,
        }),
      ).rejects.toThrow(/rollup/i);
      const kv = await scheduling.jetstream().views.kv(CHECKPOINT_BUCKET, { bindOnly: true });
      expect((await kv.get('relay.scheduling'))?.string()).toBe('42');
    } finally {
      await session.drain();
      await scheduling.drain();
    }
  });

  it('lets the operator change and delete streams (and provision them again)', async () => {
    const nc = await suite.server.connect();
    try {
      const jsm = await nc.jetstreamManager();
      const info = await jsm.streams.info(BUS_STREAM);
      const updated = await jsm.streams.update(BUS_STREAM, {
        ...info.config,
        description: 'changed by the operator',
      });
      expect(updated.config.description).toBe('changed by the operator');
      expect(await jsm.streams.delete(REVOCATIONS_STREAM)).toBe(true);
      const again = await provisionHavenStreams(nc);
      expect(again.find((p) => p.stream === REVOCATIONS_STREAM)?.action).toBe('created');
    } finally {
      await nc.drain();
    }
  });
});

describe('a forged event against the running services', () => {
  let stack: ServiceStack;
  let auditClient: audit.AuditServiceClient;
  beforeAll(async () => {
    stack = await startServiceStack({ services: ['scheduling', 'audit'] });
    auditClient = stack.connect(audit.AuditServiceClient);
  });
  afterAll(async () => {
    auditClient?.close();
    await stack?.stop();
  });

  const subOf = (token: string): string =>
    (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub: string }).sub;

  /** Every ListAuditEvents entry (as the auditor), bounded to 20 pages. */
  const auditEntries = () =>
    readAuditLedger(auditClient, () => clientCallMetadata({ token: stack.token('auditor')! }), {
      maxPages: 20,
    });

  it('refuses a well-formed envelope naming a clinician as actor, from an outside client and from another service', async () => {
    const clinician = subOf(stack.token('clinician')!);
    const attempts: Array<{ who: string; id: string; outcome: string }> = [];
    const attempt = async (
      who: string,
      open: () => Promise<NatsConnection>,
      subjectOf: (forged: EventEnvelope) => string = (forged) => esSubject(forged.stream),
    ): Promise<void> => {
      const forged = forgedEnvelope(`scheduling.appointment-${randomUUID()}`, clinician);
      let outcome = 'stored';
      try {
        const nc = await open();
        try {
          await publishEnvelope(nc, forged, subjectOf(forged));
        } finally {
          await nc.close();
        }
      } catch (error) {
        outcome = String(error);
      }
      attempts.push({ who, id: forged.id, outcome });
    };
    // 1. An outside client with no credentials (anyone on the host holding a certificate of the CA).
    const { connect } = await import('nats');
    const pki = stack.nats.pki;
    if (!pki) throw new Error('the stack runs NATS without TLS');
    const tls = { caFile: pki.caFile, ...pki.files('integration') };
    await attempt('anonymous', () => connect({ servers: stack.nats.url, tls, reconnect: false }));
    // 2. A compromised gateway or session service: their own credentials, scheduling's subjects.
    await attempt('gateway', () => stack.nats.connect('gateway'));
    await attempt('session', () => stack.nats.connect('session'));
    // 3. A compromised identity service on its own subject, with a body that names scheduling's stream: NATS
    // stores it (identity's own context), the store's readers refuse a body that contradicts its subject.
    await attempt(
      'identity, own subject',
      () => stack.nats.connect('identity'),
      (forged) => `haven.es.identity.user.${forged.id}`,
    );
    // A marker appended after the attempts: once the audit service shows it, it has read past them.
    const marker = newEvent({
      type: 'haven.test.v1.Marker',
      data: {},
      actor: { kind: 'service', id: 'test' },
    });
    const store = await JetStreamEventStore.connect({ ...stack.nats.operator, name: 'marker' });
    await store.append(`test.marker-${randomUUID()}`, 'no_stream', [marker]);
    await store.close();
    let entries: audit.AuditEvent[] = [];
    for (let i = 0; i < 100 && !entries.some((e) => e.name === `auditEvents/${marker.id}`); i++) {
      entries = await auditEntries();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(entries.some((e) => e.name === `auditEvents/${marker.id}`)).toBe(true);
    // Nothing forged reached the ledger: no attempt's event id, nothing cancelled in the clinician's name.
    const forgedInLedger = attempts.filter((a) => entries.some((e) => e.name === `auditEvents/${a.id}`));
    expect(forgedInLedger.map((a) => a.who)).toEqual([]);
    const inClinicianName = entries.filter(
      (e) => e.actor?.id === clinician && e.type.endsWith('AppointmentCancelled'),
    );
    expect(inClinicianName).toEqual([]);
    // Each attempt was refused by nats-server itself.
    expect(attempts.map((a) => [a.who, a.outcome])).toEqual([
      ['anonymous', expect.stringMatching(/Authorization Violation/)],
      ['gateway', expect.stringMatching(/Permissions Violation for Publish to "haven\.es\.scheduling\./)],
      ['session', expect.stringMatching(/Permissions Violation for Publish to "haven\.es\.scheduling\./)],
      ['identity, own subject', 'stored'],
    ]);
  });
});
