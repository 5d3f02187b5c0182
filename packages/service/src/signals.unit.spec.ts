import { installSignalHandlers } from './signals';

describe('installSignalHandlers', () => {
  it('runs every stop function once, in order, then exits 0; a second signal exits 1 at once', async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const exits: number[] = [];
    let exited!: () => void;
    const done = new Promise<void>((r) => {
      exited = r;
    });
    const uninstall = installSignalHandlers(
      [
        async () => {
          order.push('server');
          await gate;
        },
        async () => {
          order.push('store');
        },
      ],
      {
        signals: ['SIGUSR2'],
        exit: (code) => {
          exits.push(code);
          if (exits.length === 2) exited();
        },
      },
    );
    try {
      process.emit('SIGUSR2', 'SIGUSR2');
      process.emit('SIGUSR2', 'SIGUSR2');
      expect(exits).toEqual([1]);
      release();
      await done;
      expect(order).toEqual(['server', 'store']);
      expect(exits).toEqual([1, 0]);
    } finally {
      uninstall();
    }
    expect(process.listenerCount('SIGUSR2')).toBe(0);
  });

  it('exits 1 when a stop function fails, after running the rest', async () => {
    const order: string[] = [];
    const code = await new Promise<number>((resolve) => {
      const uninstall = installSignalHandlers(
        [
          async () => {
            throw new Error('boom');
          },
          async () => {
            order.push('second');
          },
        ],
        {
          signals: ['SIGUSR2'],
          exit: (c) => {
            uninstall();
            resolve(c);
          },
        },
      );
      process.emit('SIGUSR2', 'SIGUSR2');
    });
    expect(code).toBe(1);
    expect(order).toEqual(['second']);
  });
});
