/**
 * The fault proxy against a real TCP echo server on 127.0.0.1: latency, resets, refusal, blackhole.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { type FaultProxy, startFaultProxy } from '@haven/testing';

let echo: Server;
let echoPort: number;
let proxy: FaultProxy;

beforeAll(async () => {
  echo = createServer((s) => {
    s.on('error', () => undefined); // the proxy resets it on purpose
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  echoPort = (echo.address() as { port: number }).port;
  proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: echoPort } });
});

afterAll(async () => {
  await proxy.close();
  await new Promise<void>((r) => echo.close(() => r()));
});

afterEach(() => proxy.heal());

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: proxy.port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends `text` and resolves with the time until it came back (ms), or rejects on a socket error. */
function roundTrip(s: Socket, text: string, timeoutMs = 5_000): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => reject(new Error('timed out')), timeoutMs);
    const onData = (d: Buffer) => {
      got += d.toString();
      if (got.length >= text.length) {
        clearTimeout(timer);
        s.off('data', onData);
        resolve(Date.now() - started);
      }
    };
    s.on('data', onData);
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.write(text);
  });
}

it('passes bytes through, and adds the latency both ways', async () => {
  const s = await open();
  expect(await roundTrip(s, 'hello')).toBeLessThan(150);
  proxy.set({ latencyMs: 150 });
  expect(await roundTrip(s, 'world')).toBeGreaterThanOrEqual(290);
  s.destroy();
});

it('resets every open connection (the client sees ECONNRESET)', async () => {
  const s = await open();
  await roundTrip(s, 'a');
  const error = new Promise<NodeJS.ErrnoException>((r) => s.once('error', r));
  proxy.resetAll();
  expect((await error).code).toBe('ECONNRESET');
  expect(proxy.stats.resets).toBeGreaterThanOrEqual(1);
});

it('refuses new connections while told to', async () => {
  proxy.set({ refuse: true });
  const outcome = await new Promise<string>((resolve) => {
    const s = connect({ host: '127.0.0.1', port: proxy.port });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.once('close', () => resolve('closed'));
  });
  expect(['ECONNRESET', 'closed']).toContain(outcome);
  expect(proxy.stats.refused).toBeGreaterThanOrEqual(1);
});

it('holds everything in a blackhole and lets it through when lifted', async () => {
  const s = await open();
  proxy.set({ blackhole: true });
  const back = roundTrip(s, 'held', 5_000);
  await new Promise((r) => setTimeout(r, 400));
  proxy.set({ blackhole: false });
  expect(await back).toBeGreaterThanOrEqual(400);
  s.destroy();
});

it('keeps the byte order under jitter, as TCP does (a reordered stream is not a network fault)', async () => {
  const s = await open();
  proxy.set({ latencyMs: 5, jitterMs: 40 });
  const sent: string[] = [];
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString()));
  for (let i = 0; i < 400; i++) {
    const piece = `<${i}>`;
    sent.push(piece);
    s.write(piece);
    if (i % 20 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  const want = sent.join('');
  for (let waited = 0; got.length < want.length && waited < 5_000; waited += 20) {
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(got).toBe(want);
  s.destroy();
});
