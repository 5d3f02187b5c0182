import { createServer, type Server } from 'node:net';
import { listening } from './listening';

function close(server: Server): Promise<void> {
  return new Promise((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
}

describe('listening', () => {
  const servers: Server[] = [];
  const server = (): Server => {
    const s = createServer((socket) => socket.end());
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map(close));
  });

  it('resolves with the port the server bound', async () => {
    const s = server();
    const port = await listening(s, 0, '127.0.0.1');
    expect(port).toBeGreaterThan(0);
    expect(s.address()).toMatchObject({ address: '127.0.0.1', port });
  });

  it('rejects with the listen error when the port is taken, and leaves no listener behind', async () => {
    const port = await listening(server(), 0, '127.0.0.1');
    const second = server();
    await expect(listening(second, port, '127.0.0.1')).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(second.listenerCount('error')).toBe(0);
  });

  it('removes its error listener once listening, so later errors reach the server’s own handlers', async () => {
    const s = server();
    await listening(s, 0, '127.0.0.1');
    expect(s.listenerCount('error')).toBe(0);
  });
});
