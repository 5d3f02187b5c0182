/**
 * The body of a request to scheduling's own HTTP routes (inbound SMS webhooks, e-mail unsubscribe), read whole
 * up to a limit: a larger body rejects with {@link BodyTooLarge} and the request is destroyed.
 */
import type { IncomingMessage } from 'node:http';

/** The body was over the route's limit (answer 413). */
export class BodyTooLarge extends Error {
  override readonly name = 'BodyTooLarge';
}

/** Reads `req`'s body as UTF-8, at most `maxBytes` bytes. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new BodyTooLarge(`request body over ${maxBytes} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
