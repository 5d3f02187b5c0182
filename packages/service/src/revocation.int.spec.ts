import { StreamNotProvisionedError } from '@haven/eventstore';
import { startNatsServer } from '@haven/testing';
import { REVOCATIONS_STREAM, RevocationFeed, RevocationPublisher } from './revocation';

jest.setTimeout(30_000);

describe('the revocation stream', () => {
  it('is never created by a service: publisher and feed name the missing stream', async () => {
    const server = await startNatsServer({ provision: false });
    try {
      const publisher = await RevocationPublisher.connect(server.client('identity')).catch((e: unknown) => e);
      expect(publisher).toBeInstanceOf(StreamNotProvisionedError);
      expect(String(publisher)).toMatch(
        new RegExp(`${REVOCATIONS_STREAM}: the revocation feed does not exist`),
      );
      await expect(RevocationFeed.connect(server.client('gateway'))).rejects.toBeInstanceOf(
        StreamNotProvisionedError,
      );
      const nc = await server.connect();
      try {
        const jsm = await nc.jetstreamManager();
        expect(await jsm.streams.names().next()).toEqual([]);
      } finally {
        await nc.drain();
      }
    } finally {
      await server.stop();
    }
  });

  it('carries identity revocations to another service, and only identity may publish one', async () => {
    const server = await startNatsServer();
    const feed = await RevocationFeed.connect(server.client('scheduling'));
    const publisher = await RevocationPublisher.connect(server.client('identity'));
    const impostor = await RevocationPublisher.connect(server.client('session'));
    try {
      const revokedAt = new Date().toISOString();
      const forged = await impostor
        .publish({ sid: 'sid-forged', sub: 'u-1', reason: 'logout', revokedAt })
        .catch((e: unknown) => e);
      expect(String((forged as Error & { cause?: unknown }).cause)).toMatch(/Permissions Violation/);
      await publisher.publish({ sid: 'sid-1', sub: 'u-1', reason: 'logout', revokedAt });
      const principal = (sid: string) => ({ kind: 'user' as const, id: 'u-1', sessionId: sid, scopes: [] });
      for (let i = 0; i < 200 && !feed.isRevoked(principal('sid-1')); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(feed.isRevoked(principal('sid-1'))).toBe(true);
      expect(feed.isRevoked(principal('sid-forged'))).toBe(false);
    } finally {
      await impostor.close();
      await publisher.close();
      await feed.close();
      await server.stop();
    }
  });
});
