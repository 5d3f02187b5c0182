import { PreconditionError } from '@haven/errors';
import { validateBatch } from './codec';
import type { NewEvent } from './envelope';
import { parseStreamName } from './ids';
import type { Subscription } from './port';

/**
 * What every EventStore adapter shares: open or closed, the live subscriptions that closing stops, and the
 * refusal to delete a stream (Haven never deletes one; the JetStream server denies deletes and purges too).
 */
export abstract class EventStoreAdapter {
  private readonly subscriptions = new Set<Subscription>();
  private closed = false;

  /** Always throws PreconditionError: Haven never deletes a stream. */
  async deleteStream(stream: string): Promise<never> {
    throw new PreconditionError(`stream ${stream}: deleting streams is not allowed`);
  }

  /** Stops every subscription, then releases what the adapter holds; a second call does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await this.release();
  }

  /** Releases the adapter's connection or client; called once, by {@link close}. */
  protected abstract release(): Promise<void>;

  /** Throws PreconditionError once the store is closed. */
  protected assertOpen(): void {
    if (this.closed) throw new PreconditionError('event store is closed');
  }

  /**
   * What an append checks before it touches the store: PreconditionError once closed, ValidationError on a bad
   * stream name or batch.
   */
  protected assertAppendable(stream: string, events: readonly NewEvent[]): void {
    this.assertOpen();
    parseStreamName(stream);
    validateBatch(events);
  }

  /**
   * A subscription that `stop` ends (it settles once the subscription's loop has ended), tracked until then so
   * that {@link close} stops it.
   */
  protected track(stop: () => Promise<void>): Subscription {
    const subscription: Subscription = {
      close: async () => {
        await stop();
        this.subscriptions.delete(subscription);
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }
}
