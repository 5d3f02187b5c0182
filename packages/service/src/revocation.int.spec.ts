import { connect } from 'nats';
import { startNatsServer } from '../../../tests/support/nats-server';
import { REVOCATIONS_STREAM, RevocationPublisher, ensureRevocationStream } from './revocation';

jest.setTimeout(30_000);

describe('the revocation stream', () => {
  it('is created with the configured replicas (HAVEN_JETSTREAM_REPLICAS)', async () => {
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    try {
      // One server cannot hold three replicas and says so: the count reaches JetStream.
      const refused = await ensureRevocationStream(nc, 3).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(Error);
      expect(String((refused as Error & { cause?: unknown }).cause)).toMatch(/replica/i);
      await expect(RevocationPublisher.connect({ servers: server.url, replicas: 3 })).rejects.toThrow(
        /revocation stream/,
      );
      const publisher = await RevocationPublisher.connect({ servers: server.url, replicas: 1 });
      await publisher.close();
      const jsm = await nc.jetstreamManager();
      expect((await jsm.streams.info(REVOCATIONS_STREAM)).config.num_replicas).toBe(1);
    } finally {
      await nc.drain();
      await server.stop();
    }
  });
});
