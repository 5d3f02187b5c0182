/**
 * A JetStream stream read in order as a {@link FollowSource}: each follow attempt is a fresh ordered consumer
 * starting after the follower's position, and the end of the log is the stream's last sequence. Used for
 * streams that are not the event store (identity's revocation feed).
 */
import {
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type OrderedConsumerOptions,
} from 'nats';
import { UnavailableError } from '@haven/errors';
import type { FollowSource } from './follower';
import type { Checkpoint, StoreHead, Subscription } from './port';
import { PENDING_COUNT_LIMIT } from './port';

/** One message of a followed stream. */
export interface StreamItem {
  /** The stream sequence. */
  readonly position: bigint;
  readonly subject: string;
  readonly data: Uint8Array;
}

/**
 * Every message of `stream` as a follow source over an open connection (the lag counts every message of the
 * stream, so use it for streams read whole). The subscription reports to `onError` when the client ends its
 * consumer without being asked to. Throws nothing itself; its methods throw what NATS throws.
 */
export function jetStreamSource(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
): FollowSource<StreamItem> {
  return {
    async subscribe({ from, handler, onError }): Promise<Subscription> {
      const opts: Partial<OrderedConsumerOptions> =
        from === 'start'
          ? {}
          : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Number(from) + 1 };
      const consumer = await js.consumers.get(stream, opts);
      const messages = await consumer.consume({ max_messages: 256, expires: 5_000 });
      let stopped = false;
      const loop = (async () => {
        for await (const m of messages) {
          if (stopped) break;
          await handler({ position: BigInt(m.seq), subject: m.subject, data: m.data });
        }
        if (!stopped) throw new UnavailableError(`${stream}: subscription ended`);
      })().catch((error: unknown) => {
        if (stopped) return;
        stopped = true;
        messages.stop();
        onError(error);
      });
      return {
        close: async () => {
          stopped = true;
          messages.stop();
          await loop;
        },
      };
    },
    async head(after: Checkpoint): Promise<StoreHead> {
      const { state } = await jsm.streams.info(stream);
      const from = Math.max(after === 'start' ? 0 : Number(after), state.first_seq - 1);
      return {
        position: state.last_seq === 0 ? 'start' : BigInt(state.last_seq),
        pending: Math.min(PENDING_COUNT_LIMIT, Math.max(0, state.last_seq - from)),
      };
    },
  };
}
