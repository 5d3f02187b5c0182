/**
 * The fuzz suite, short version (in `npm test`; the long one is `npm run soak -- fuzz`): every RPC of every
 * service, from the proto descriptors, called over the real services (identity, scheduling, session, recording,
 * audit as built child processes on a real nats-server and Janus) with random bytes and random valid messages
 * (fast-check, seeded; the seed is printed), as every kind of caller and without a token. No crash, no hang, only
 * documented status codes, and nothing but its refusal appended for a rejected request (see fuzz-run.ts).
 * HAVEN_FUZZ_SEED replays a run; HAVEN_FUZZ_CALLS changes its size (default 2000).
 */
import { startServiceStack, type ServiceStack } from '../support/service-stack';
import { runFuzz } from './fuzz-run';
import { FUZZ_IDENTITY_ENV } from './fuzz-env';

jest.setTimeout(300_000);

let stack: ServiceStack;
beforeAll(async () => {
  stack = await startServiceStack({ identityEnv: FUZZ_IDENTITY_ENV });
});
afterAll(async () => {
  await stack?.stop();
});

it('every RPC with random bytes and random messages: no crash, no hang, documented codes, no append on error', async () => {
  const seed = Number(process.env['HAVEN_FUZZ_SEED'] ?? Date.now() % 2 ** 31);
  const report = await runFuzz(stack, {
    calls: Number(process.env['HAVEN_FUZZ_CALLS'] ?? 2000),
    durationMs: 90_000,
    concurrency: 6,
    seed,
    log: (line) => console.log(line),
  });
  expect(Number(report.counts['calls'])).toBeGreaterThan(100);
  expect(Number(report.counts['code OK'] ?? 0)).toBeGreaterThan(0);
  expect(report.problems.slice(0, 40)).toEqual([]);
});
