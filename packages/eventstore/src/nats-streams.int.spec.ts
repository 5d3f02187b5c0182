import { startNatsServer } from '@haven/testing';
import {
  ACCEPTED_MARKS_STREAM,
  BUS_STREAM,
  CHECKPOINT_BUCKET,
  EVENT_STORE_STREAM,
  HAVEN_STREAMS,
  HavenStream,
  REVOCATIONS_STREAM,
  StreamNotProvisionedError,
  provisionHavenStreams,
  verifyHavenStreams,
} from './nats-streams';

const ALL = Object.values(HavenStream);

describe('provisioning the streams with the operator credential', () => {
  it('creates every stream once, idempotently, with the requested replicas', async () => {
    const server = await startNatsServer({ provision: false });
    const nc = await server.connect();
    try {
      // One server cannot hold three replicas and says so: the count reaches JetStream.
      await expect(provisionHavenStreams(nc, { replicas: 3 })).rejects.toThrow(/HAVEN_ES: .*replica/i);
      const first = await provisionHavenStreams(nc, { replicas: 1 });
      expect(first.map((p) => [p.stream, p.action])).toEqual([
        [EVENT_STORE_STREAM, 'created'],
        [BUS_STREAM, 'created'],
        [`KV_${CHECKPOINT_BUCKET}`, 'created'],
        [REVOCATIONS_STREAM, 'created'],
        [ACCEPTED_MARKS_STREAM, 'created'],
      ]);
      const again = await provisionHavenStreams(nc, { replicas: 1 });
      expect(again.every((p) => p.action === 'unchanged')).toBe(true);
      const jsm = await nc.jetstreamManager();
      const checked = await verifyHavenStreams(jsm, ALL, { replicas: 1 });
      expect(checked.map((c) => c.stream)).toEqual(HAVEN_STREAMS.map((s) => s.name));
      expect(checked.flatMap((c) => [...c.problems, ...c.warnings])).toEqual([]);
      expect((await verifyHavenStreams(jsm, [HavenStream.Bus], { replicas: 3 }))[0]!.warnings).toEqual([
        'HAVEN_BUS has 1 replica(s), HAVEN_JETSTREAM_REPLICAS asks for 3: run the provisioning again',
      ]);
    } finally {
      await nc.drain();
      await server.stop();
    }
  });

  it('brings streams created by an older Haven (services used to create them) to the required settings', async () => {
    const server = await startNatsServer({ provision: false });
    const nc = await server.connect();
    try {
      // What the services used to create: nats.js's own KV bucket (roll-up headers on, deletes allowed).
      await nc.jetstream().views.kv(CHECKPOINT_BUCKET, { history: 1 });
      const jsm = await nc.jetstreamManager();
      const [before] = await verifyHavenStreams(jsm, [HavenStream.Checkpoints]);
      expect(before?.problems.join('; ')).toMatch(
        /allow_rollup_hdrs is true, expected false.*deny_delete is false/,
      );
      await expect(verifyHavenStreams(jsm, [HavenStream.Bus])).rejects.toBeInstanceOf(
        StreamNotProvisionedError,
      );
      const report = await provisionHavenStreams(nc);
      expect(report.find((r) => r.stream === `KV_${CHECKPOINT_BUCKET}`)).toEqual({
        stream: `KV_${CHECKPOINT_BUCKET}`,
        action: 'updated',
        changed: ['allow_rollup_hdrs', 'deny_delete', 'deny_purge'],
      });
      const after = await verifyHavenStreams(jsm, ALL);
      expect(after.map((c) => [c.stream, c.problems])).toEqual(HAVEN_STREAMS.map((s) => [s.name, []]));
    } finally {
      await nc.drain();
      await server.stop();
    }
  });
});
