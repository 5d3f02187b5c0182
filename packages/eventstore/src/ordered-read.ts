import type { Consumer, JsMsg } from 'nats';

/** Bounds of {@link readWithin}. */
export interface ReadWithinOptions {
  /** How many messages the consumer pulls at a time. */
  readonly batch: number;
  /** How long the whole read may take, ms: then the messages are stopped. */
  readonly timeoutMs: number;
}

/**
 * Hands `consumer`'s messages to `visit` until it returns false or the messages end, within `timeoutMs`; the
 * messages are stopped either way. Resolves true when the deadline ended the read (the caller says what timed
 * out). Throws what nats.js throws when the consume fails.
 */
export async function readWithin(
  consumer: Consumer,
  options: ReadWithinOptions,
  visit: (m: JsMsg) => boolean,
): Promise<boolean> {
  const messages = await consumer.consume({ max_messages: options.batch, expires: 5_000 });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    messages.stop();
  }, options.timeoutMs);
  try {
    for await (const m of messages) {
      if (!visit(m)) break;
    }
  } finally {
    clearTimeout(timer);
    messages.stop();
  }
  return timedOut;
}
