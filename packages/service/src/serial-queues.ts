/**
 * Work run one at a time per key in this process: a call waits until every earlier call with the same key has
 * settled (whatever its outcome), then runs. Keys are independent; a key's queue is dropped once it is empty.
 */
export class SerialQueues {
  /** The tail of each key's queue; it never rejects. */
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Runs `work` after every earlier `run` with `key` has settled. Resolves or rejects as `work` does. */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    const mine = before.then(work);
    const tail = mine.catch(() => undefined);
    this.#tails.set(key, tail);
    try {
      return await mine;
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** How many keys have work queued or running (for tests). */
  get size(): number {
    return this.#tails.size;
  }
}
