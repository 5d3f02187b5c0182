/**
 * The read a card shows (a list of passkeys, users, accounts, caught mail): made when the card mounts and again
 * after each change the card makes.
 */
import { useCallback, useEffect, useRef } from 'react';
import { whileCurrent } from './while-current';

/**
 * Reads once when the component mounts (an answer after it left is dropped, see {@link whileCurrent}) and returns
 * `reload`, which reads again; `apply` takes each answer and `fail` each failure, so `reload` never rejects. The
 * latest `read`, `apply` and `fail` are used, so the caller may write them inline.
 */
export function useReload<T>(
  read: () => Promise<T>,
  apply: (value: T) => void,
  fail: (err: unknown) => void,
): () => Promise<void> {
  const latest = useRef({ read, apply, fail });
  useEffect(() => {
    latest.current = { read, apply, fail };
  });
  useEffect(() => {
    const { read: first, apply: take, fail: refuse } = latest.current;
    return whileCurrent(first(), take, refuse);
  }, []);
  return useCallback(() => {
    const { read: again, apply: take, fail: refuse } = latest.current;
    return again().then(
      (value) => {
        take(value);
      },
      (err: unknown) => {
        refuse(err);
      },
    );
  }, []);
}
