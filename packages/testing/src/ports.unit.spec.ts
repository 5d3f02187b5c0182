import { createServer } from 'node:net';
import { freePort, portRange } from './ports';

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
    // 400 draws from this worker's 2 125 ports: dozens of repeats expected if each draw forgot the others.
    const ports: number[] = [];
    for (let i = 0; i < 400; i += 1) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });

  it('draws each Jest worker from its own slice, so two workers never plan the same port', async () => {
    const slices = Array.from({ length: 8 }, (_, i) => portRange(String(i + 1)));
    for (const [i, a] of slices.entries()) {
      expect(a.first).toBeGreaterThanOrEqual(15_000);
      expect(a.last).toBeLessThanOrEqual(32_000);
      for (const b of slices.slice(i + 1)) expect(a.last <= b.first || b.last <= a.first).toBe(true);
    }
    expect(portRange('')).toEqual({ first: 15_000, last: 32_000 });
    const mine = portRange();
    const port = await freePort();
    expect(port).toBeGreaterThanOrEqual(mine.first);
    expect(port).toBeLessThan(mine.last);
  });
});
