/**
 * The one polling helper of the tests: `await eventually('the visit opened', async () => visitOf(id))`.
 */

/** Options of {@link eventually}. */
export interface EventuallyOptions {
  /**
   * How long to keep trying, in ms. Default 30 000: a bound on waiting, not a timing assertion — CI shares two
   * cores between parallel suites, and a wait that fails there only means the machine was busy.
   */
  readonly timeoutMs?: number;
  /** The pause between two tries, in ms. Default 50. */
  readonly intervalMs?: number;
}

/**
 * Calls `probe` until it returns something other than `undefined` or `false`, and resolves to that. A probe
 * that throws is tried again (a service still starting). Rejects naming `what` (and the probe's last error)
 * once `timeoutMs` has passed.
 */
export async function eventually<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: EventuallyOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
  const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
}

/**
 * Runs `check` (a block of expectations) until it passes, naming it by its first characters when it never does:
 * `await passesEventually(async () => expect(await stateOf(id)).toBe('AVAILABLE'))`.
 */
export async function passesEventually(
  check: () => Promise<void> | void,
  options: EventuallyOptions = {},
): Promise<void> {
  await eventually(
    check.toString().slice(0, 80),
    async () => {
      await check();
      return true;
    },
    options,
  );
}
