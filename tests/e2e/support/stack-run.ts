/**
 * The skeleton every in-namespace browser driver shares: the whole stack (./stack.ts) and a few headless
 * Chromiums started side by side, the gateway's URL checked, the services' last log lines added to a failure,
 * and everything stopped again however the run ends.
 *
 *   const result = await withStack({ browsers: 2 }, async ({ stack, browsers: [a, b], gatewayUrl }) => { ... });
 */
import { launchChromium, type LaunchedChromium } from '@haven/testing';
import { startStack, type Stack, type StackOptions } from './stack';
import { withLogs } from '../../support/driver';

/** `N` browsers as a tuple, so that `[a, b]` destructures without `undefined`. */
type Browsers<N extends number, R extends LaunchedChromium[] = []> = R['length'] extends N
  ? R
  : Browsers<N, [...R, LaunchedChromium]>;

/** What the body of {@link withStack} runs with. */
export interface StackRun<N extends number> {
  readonly stack: Stack;
  readonly browsers: Browsers<N>;
  /** The gateway's `http://127.0.0.1:<port>`; '' when the stack was started without it. */
  readonly gatewayUrl: string;
}

/** Options of {@link withStack}. */
export interface WithStackOptions<N extends number> {
  /** How many Chromiums to launch (each with its own fresh profile). */
  readonly browsers: N;
  /** Options of the stack (default: everything, gateway included). */
  readonly stack?: StackOptions;
  /** The logs to add to a failure (default: the last 15 lines of every process). */
  readonly failureLogs?: (stack: Stack | undefined, err: unknown) => string;
}

/**
 * Starts the stack and `browsers` Chromiums in parallel, runs `body`, then closes the browsers and stops the
 * stack (also when starting or the body fails). Throws the body's (or a start's) error with the services' logs
 * appended, and Error when the gateway was asked for but did not start.
 */
export async function withStack<T, N extends number>(
  opts: WithStackOptions<N>,
  body: (run: StackRun<N>) => Promise<T>,
): Promise<T> {
  let stack: Stack | undefined;
  const browsers: LaunchedChromium[] = [];
  try {
    const [s, ...launched] = await Promise.allSettled([
      startStack(opts.stack),
      ...Array.from({ length: opts.browsers }, () => launchChromium()),
    ]);
    if (s?.status === 'fulfilled') stack = s.value;
    for (const b of launched) if (b.status === 'fulfilled') browsers.push(b.value);
    const failed = [s, ...launched].find((r) => r?.status === 'rejected');
    if (failed?.status === 'rejected') throw failed.reason;
    if (!stack) throw new Error('the stack did not start');
    let gatewayUrl = '';
    if (opts.stack?.gateway !== false) {
      if (!stack.gatewayUrl) throw new Error(`the gateway did not start: ${stack.gatewayError ?? ''}`);
      gatewayUrl = stack.gatewayUrl;
    }
    return await body({ stack, browsers: browsers as Browsers<N>, gatewayUrl });
  } catch (err) {
    throw withLogs(err, opts.failureLogs ? opts.failureLogs(stack, err) : (stack?.logs(15) ?? ''));
  } finally {
    await Promise.all(browsers.map((b) => b.close()));
    await stack?.stop();
  }
}
