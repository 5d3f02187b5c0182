/**
 * A read started by an effect applies only while that effect is current: once React cleans it up (the component
 * left the page, or a dependency changed and a newer read started), a late answer or failure is dropped.
 */

/**
 * Hands `read`'s answer to `apply`, or its failure to `fail` (by default dropped), unless the returned cleanup
 * ran first. Return it from the effect: `useEffect(() => whileCurrent(api(…), setX), [deps])`.
 */
export function whileCurrent<T>(
  read: Promise<T>,
  apply: (value: T) => void,
  fail: (err: unknown) => void = () => undefined,
): () => void {
  let current = true;
  read.then(
    (value) => {
      if (current) apply(value);
    },
    (err: unknown) => {
      if (current) fail(err);
    },
  );
  return () => {
    current = false;
  };
}
