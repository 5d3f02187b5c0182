import { whileCurrent } from './while-current';

const settled = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

describe('whileCurrent', () => {
  it('applies an answer that arrives while the effect is current', async () => {
    const applied: number[] = [];
    whileCurrent(Promise.resolve(7), (v) => applied.push(v));
    await settled();
    expect(applied).toEqual([7]);
  });

  it('drops an answer that arrives after the cleanup', async () => {
    const applied: number[] = [];
    let answer!: (v: number) => void;
    const cleanup = whileCurrent(new Promise<number>((resolve) => (answer = resolve)), (v) =>
      applied.push(v),
    );
    cleanup();
    answer(7);
    await settled();
    expect(applied).toEqual([]);
  });

  it('hands a failure to fail while current, and drops it after the cleanup', async () => {
    const failures: unknown[] = [];
    whileCurrent(
      Promise.reject(new Error('first')),
      () => undefined,
      (e) => failures.push(e),
    );
    const late = whileCurrent(
      Promise.reject(new Error('late')),
      () => undefined,
      (e) => failures.push(e),
    );
    late();
    await settled();
    expect(failures.map((e) => (e as Error).message)).toEqual(['first']);
  });
});
