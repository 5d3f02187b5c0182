import type { Logger } from './logger';

/** Options of {@link installSignalHandlers}. */
export interface SignalHandlerOptions {
  readonly logger?: Logger;
  /** Default `process.exit`; tests pass a spy. */
  readonly exit?: (code: number) => void;
  /** Default SIGTERM and SIGINT. */
  readonly signals?: readonly NodeJS.Signals[];
}

/**
 * On the first SIGTERM/SIGINT, runs every stop function in order (each is awaited; a failure is logged and the
 * exit code becomes 1), then exits with 0 (or 1). A second signal exits at once with 1.
 * Returns a function that removes the handlers. Throws nothing.
 */
export function installSignalHandlers(
  stopFns: ReadonlyArray<() => Promise<void>>,
  options: SignalHandlerOptions = {},
): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      options.logger?.warn({ signal }, 'second signal: exiting now');
      exit(1);
      return;
    }
    stopping = true;
    options.logger?.info({ signal }, 'stopping');
    void (async () => {
      let code = 0;
      for (const stop of stopFns) {
        try {
          await stop();
        } catch (error) {
          code = 1;
          options.logger?.error({ err: error }, 'stop failed');
        }
      }
      options.logger?.info({ code }, 'stopped');
      exit(code);
    })();
  };
  for (const s of signals) process.on(s, onSignal);
  return () => {
    for (const s of signals) process.removeListener(s, onSignal);
  };
}
