import { createServer } from 'node:net';
import { freePort } from './ports';

describe('freePort', () => {
  it('gives ports below the ephemeral range that a server can then listen on, on every address', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(15_000);
      expect(port).toBeLessThan(32_768);
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: '0.0.0.0', port }, resolve);
      });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('never gives the same port twice in one process (a stack plans a dozen ports before binding any)', async () => {
    // 400 draws from 17 000 ports: about 5 repeats expected if each draw forgot the others.
    const ports: number[] = [];
    for (let i = 0; i < 400; i += 1) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });
});
