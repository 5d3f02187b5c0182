/**
 * The index of a link token: one event on a stream named by the token's hash, saying what the token opens (an
 * appointment, a guest). The token itself is never stored; a redeem finds its link through the hash.
 */
import { UnauthenticatedError } from '@haven/errors';
import { commandEvent, throwIfAborted, type CommandMetadata } from '@haven/service';
import { LINK_NOT_VALID } from '../appointment/link-policy';
import type { SchedulingDeps } from '../deps';

/**
 * Appends the index event (`type`, `data`) as the first event of `stream`. Throws CallAbortedError when the call
 * was aborted; rejects with ConcurrencyError when the stream exists (the same token hash indexed twice).
 */
export async function indexLinkToken(
  deps: Pick<SchedulingDeps, 'store' | 'clock'>,
  index: { readonly stream: string; readonly type: string; readonly data: Record<string, unknown> },
  metadata: CommandMetadata,
): Promise<void> {
  throwIfAborted(metadata.signal);
  await deps.store.append(index.stream, 'no_stream', [commandEvent(metadata, index, deps.clock())]);
}

/** The id in field `field` of the index event on `stream`. Throws UnauthenticatedError when there is none. */
export async function indexedByToken(
  deps: Pick<SchedulingDeps, 'store'>,
  stream: string,
  field: string,
): Promise<string> {
  const indexed = await deps.store.read(stream, { limit: 1 });
  const id = indexed[0]?.data[field];
  if (typeof id !== 'string') throw new UnauthenticatedError(LINK_NOT_VALID);
  return id;
}
