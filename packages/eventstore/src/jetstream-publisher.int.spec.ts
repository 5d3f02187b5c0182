import { ErrorCode, NatsError } from 'nats';
import { natsSuite } from '@haven/testing';
import { JetStreamPublisher } from './jetstream-publisher';
import { EVENT_STORE_STREAM, JetStreamEventStore } from './jetstream';
import { closeNatsConnection, connectNats } from './nats-connection';
import { testEvent } from './testing';

const nats = natsSuite();

const body = new TextEncoder().encode('{}');
let n = 0;
const subject = () => `haven.es.pubtest.thing.t${++n}`;
const opts = (msgId: string, expected: number) => ({
  msgId,
  expectedLastSubjectSequence: expected,
  headers: { 'Haven-Revision': '0' },
});

describe('JetStreamPublisher', () => {
  it('publishes with the expected subject sequence and headers, and reports a repeated id as a duplicate', async () => {
    const publisher = new JetStreamPublisher(nats.nc);
    const s = subject();
    const first = await publisher.publish(s, body, opts(`id-${n}`, 0));
    expect(first.duplicate).toBe(false);
    const again = await publisher.publish(s, body, opts(`id-${n}`, 0));
    expect(again).toEqual({ seq: first.seq, duplicate: true });
    const jsm = await nats.nc.jetstreamManager();
    const stored = await jsm.streams.getMessage(EVENT_STORE_STREAM, { seq: first.seq });
    expect(stored.subject).toBe(s);
    expect(stored.header.get('Nats-Msg-Id')).toBe(`id-${n}`);
    expect(stored.header.get('Haven-Revision')).toBe('0');
    await publisher.close();
  });

  it('rejects a wrong expected sequence with the JetStream API error (err_code 10071), concurrently too', async () => {
    const publisher = new JetStreamPublisher(nats.nc);
    const s = subject();
    await publisher.publish(s, body, opts(`a-${n}`, 0));
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => publisher.publish(s, body, opts(`b-${n}-${i}`, 0))),
    );
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as NatsError;
      expect(err).toBeInstanceOf(NatsError);
      expect(err.api_error?.err_code).toBe(10071);
    }
    await publisher.close();
  });

  it('fails with no responders on a subject no stream takes, and times out when no answer comes', async () => {
    const publisher = new JetStreamPublisher(nats.nc, { timeoutMs: 300 });
    await expect(publisher.publish('nostream.here', body, opts('x', 0))).rejects.toMatchObject({
      code: ErrorCode.NoResponders,
    });
    // A plain subscriber that never answers: the request expires.
    const silent = nats.nc.subscribe('silent.subject');
    const started = Date.now();
    await expect(publisher.publish('silent.subject', body, opts('y', 0))).rejects.toMatchObject({
      code: ErrorCode.Timeout,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    silent.unsubscribe();
    await publisher.close();
  });

  it("reads a subject's last message (sequence and headers), not found on an empty subject or a missing stream", async () => {
    const publisher = new JetStreamPublisher(nats.nc);
    const s = subject();
    await publisher.publish(s, body, opts(`l1-${n}`, 0));
    const second = await publisher.publish(s, body, {
      msgId: `l2-${n}`,
      expectedLastSubjectSequence: (await publisher.lastMessage(EVENT_STORE_STREAM, s)).seq,
      headers: { 'Haven-Revision': '1' },
    });
    const last = await publisher.lastMessage(EVENT_STORE_STREAM, s);
    expect(last.seq).toBe(second.seq);
    expect(last.headers.get('Haven-Revision')).toBe('1');
    expect(last.headers.get('Nats-Msg-Id')).toBe(`l2-${n}`);
    await expect(publisher.lastMessage(EVENT_STORE_STREAM, subject())).rejects.toMatchObject({
      code: '404',
      api_error: { err_code: 10037 },
    });
    await expect(publisher.lastMessage('NO_SUCH_STREAM', s)).rejects.toMatchObject({
      api_error: { err_code: 10059 },
    });
    await publisher.close();
  });

  it("works under a service user's permissions (replies only under its own inbox prefix)", async () => {
    const service = await connectNats({ ...nats.server.client('scheduling'), name: 'pubtest' }, 'test');
    try {
      const store = await JetStreamEventStore.create(service);
      const s = `scheduling.patient_access-pub${++n}`;
      await store.append(s, 'any', [testEvent('A')]);
      await store.append(s, 'any', [testEvent('B')]);
      expect((await store.read(s)).map((e) => e.revision)).toEqual([0n, 1n]);
      // Another service's subjects stay refused: the server drops the publish, the request times out.
      const refused = new JetStreamPublisher(service, { timeoutMs: 500 });
      await expect(
        refused.publish('haven.es.identity.user.x', body, opts(`p-${n}`, 0)),
      ).rejects.toMatchObject({
        code: ErrorCode.Timeout,
      });
      await refused.close();
      await store.close();
    } finally {
      await closeNatsConnection(service);
    }
  });

  it('waits for pending publishes on close, then refuses new ones; a closed connection fails them', async () => {
    const publisher = new JetStreamPublisher(nats.nc);
    const s = subject();
    const pending = publisher.publish(s, body, opts(`c-${n}`, 0));
    await publisher.close();
    await expect(pending).resolves.toMatchObject({ duplicate: false });
    await expect(publisher.publish(s, body, opts(`d-${n}`, 1))).rejects.toMatchObject({
      code: ErrorCode.ConnectionClosed,
    });
    const own = await nats.server.connect();
    const onClosed = new JetStreamPublisher(own);
    await onClosed.publish(subject(), body, opts(`e-${n}`, 0));
    await own.close();
    await expect(onClosed.publish(subject(), body, opts(`f-${n}`, 0))).rejects.toBeInstanceOf(NatsError);
  });
});
