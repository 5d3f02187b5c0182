/**
 * Test helper: freeze a process the way a stalled server looks from outside (SIGSTOP: sockets stay open,
 * nothing answers), then let it go on (SIGCONT).
 *
 *   await stallProcess(nats.pid, 20_000, async (signal) => { ...observe while it is frozen... });
 */

/**
 * Sends SIGSTOP to `pid`, runs `observe` (given an AbortSignal that fires when the stall ends) for `ms`, then
 * sends SIGCONT — always, also when `observe` throws. Resolves with what `observe` returned once the stall
 * is over. Throws when the process does not exist.
 */
export async function stallProcess<T>(
  pid: number,
  ms: number,
  observe: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const over = new AbortController();
  process.kill(pid, 'SIGSTOP');
  try {
    const timer = new Promise<void>((resolve) => setTimeout(resolve, ms));
    const watching = observe(over.signal);
    await timer;
    over.abort();
    return await watching;
  } finally {
    over.abort();
    process.kill(pid, 'SIGCONT');
  }
}
