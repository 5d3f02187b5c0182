/**
 * Byte streams the gateway relays from a server-streaming RPC to an HTTP response: the first message describes
 * what follows (a recording's range, a chat file), the rest carry `data`; the call is cancelled when the
 * browser goes away.
 */
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { Response } from 'express';

/** A streaming call once its first message arrived: what it describes, then the bytes in order. */
export interface HeadedStream<H> {
  readonly head: H;
  /** The bytes, in order; rejects when the stream fails after the first message. */
  readonly data: AsyncIterable<Buffer>;
}

/**
 * Resolves once the call's first message arrived, with `headOf` of it (rejects when that is undefined: the
 * service sent no `what`); `signal` cancels the call.
 */
export function headThenData<R extends { readonly data: Buffer }, H>(
  call: ClientReadableStream<R>,
  headOf: (first: R) => H | undefined,
  what: string,
  signal: AbortSignal,
): Promise<HeadedStream<H>> {
  signal.addEventListener('abort', () => call.cancel(), { once: true });
  const iterator = (call as AsyncIterable<R>)[Symbol.asyncIterator]();
  return iterator.next().then((first) => {
    const head = first.done ? undefined : headOf(first.value);
    if (head === undefined) throw new Error(`the service sent no ${what}`);
    return {
      head,
      data: {
        async *[Symbol.asyncIterator]() {
          for (;;) {
            const next = await iterator.next();
            if (next.done) return;
            if (next.value.data.length > 0) yield next.value.data;
          }
        },
      },
    };
  });
}

/** Writes a chunk, waiting while the socket's buffer is full; rejects when the client went away. */
export async function writeChunk(res: Response, chunk: Buffer): Promise<void> {
  if (!res.write(chunk)) {
    await new Promise<void>((resolve, reject) => {
      res.once('drain', resolve);
      res.once('close', () => reject(new Error('client closed')));
    });
  }
}
