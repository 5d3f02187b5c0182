import { SerialQueues } from './serial-queues';

/** A promise and the functions that settle it. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SerialQueues', () => {
  it('runs the work of one key one at a time, in call order, even after a failure', async () => {
    const queues = new SerialQueues();
    const log: string[] = [];
    const first = deferred();
    const a = queues.run('k', async () => {
      log.push('a starts');
      await first.promise;
      log.push('a ends');
    });
    const b = queues.run('k', async () => {
      log.push('b runs');
      return 'b';
    });
    await Promise.resolve();
    expect(log).toEqual(['a starts']);
    first.reject(new Error('a failed'));
    await expect(a).rejects.toThrow('a failed');
    await expect(b).resolves.toBe('b');
    expect(log).toEqual(['a starts', 'b runs']);
    expect(queues.size).toBe(0);
  });

  it('does not hold one key behind another', async () => {
    const queues = new SerialQueues();
    const blocked = deferred();
    const slow = queues.run('one', () => blocked.promise);
    await expect(queues.run('two', async () => 'free')).resolves.toBe('free');
    expect(queues.size).toBe(1);
    blocked.resolve();
    await slow;
    expect(queues.size).toBe(0);
  });
});
