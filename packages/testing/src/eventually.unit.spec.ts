import { eventually } from './eventually';

describe('eventually', () => {
  it('resolves to the first value the probe gives, skipping undefined, false and errors', async () => {
    const answers: (() => unknown)[] = [
      () => undefined,
      () => false,
      () => {
        throw new Error('not yet');
      },
      () => 'ready',
    ];
    let calls = 0;
    const value = await eventually('ready', () => answers[calls++]!() as string | undefined, {
      intervalMs: 1,
    });
    expect([value, calls]).toEqual(['ready', 4]);
    expect(await eventually('true', async () => true)).toBe(true);
  });

  it('gives up after the timeout, naming what it waited for and the last error', async () => {
    const started = Date.now();
    await expect(
      eventually(
        'the answer',
        () => {
          throw new Error('still down');
        },
        { timeoutMs: 100, intervalMs: 10 },
      ),
    ).rejects.toThrow('timed out after 100 ms waiting for the answer: still down');
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    await expect(eventually('never', () => undefined, { timeoutMs: 20 })).rejects.toThrow(
      /^timed out after 20 ms waiting for never$/,
    );
  });
});
