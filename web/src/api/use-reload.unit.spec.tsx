/**
 * @jest-environment jsdom
 */
import { act, renderHook } from '@testing-library/react';
import { useReload } from './use-reload';

/**
 * A component using useReload with a read the test answers by hand (one promise per read); `apply` and `fail`
 * write what they got, tagged with the props of the render that passed them.
 */
function mounted() {
  const answers: Array<{ resolve: (v: number) => void; reject: (e: Error) => void }> = [];
  const got: string[] = [];
  const read = () => new Promise<number>((resolve, reject) => answers.push({ resolve, reject }));
  const hook = renderHook(
    ({ tag }: { tag: string }) =>
      useReload(
        read,
        (v) => got.push(`${tag}${v}`),
        (e) => got.push(`${tag}:${(e as Error).message}`),
      ),
    { initialProps: { tag: 'a' } },
  );
  /** Reloads, answers that read with `answer`, and resolves with what reload resolved with. */
  const reload = (answer: (a: (typeof answers)[number]) => void) =>
    act(async () => {
      const reloaded = hook.result.current();
      answer(answers.at(-1)!);
      return reloaded;
    });
  return { answers, got, hook, reload };
}

describe('useReload', () => {
  it('reads on mount and again on reload, handing each answer to apply', async () => {
    const { answers, got, reload } = mounted();
    expect(answers).toHaveLength(1);
    await act(async () => answers[0]!.resolve(1));
    await reload((a) => a.resolve(2));
    expect(answers).toHaveLength(2);
    expect(got).toEqual(['a1', 'a2']);
  });

  it('hands each failure to fail, and a failed reload resolves', async () => {
    const { answers, got, reload } = mounted();
    await act(async () => answers[0]!.reject(new Error('mount')));
    await expect(reload((a) => a.reject(new Error('reload')))).resolves.toBeUndefined();
    expect(got).toEqual(['a:mount', 'a:reload']);
  });

  it('drops the mount read’s answer when the component left first', async () => {
    const { answers, got, hook } = mounted();
    hook.unmount();
    await act(async () => answers[0]!.resolve(1));
    expect(got).toEqual([]);
  });

  it('reloads with the latest functions the component passed', async () => {
    const { answers, got, hook, reload } = mounted();
    await act(async () => answers[0]!.resolve(1));
    hook.rerender({ tag: 'b' });
    await reload((a) => a.resolve(2));
    expect(got).toEqual(['a1', 'b2']);
  });
});
