/** The `<option>`s of a `<select>`, from value and label pairs. */

/** A choice of a select: the value sent, the words shown. */
export type Choice = readonly [value: string, label: string];

/** One `<option>` per choice, in order (keyed by value); a placeholder option stays the caller's. */
export function Options({ of }: { of: readonly Choice[] }) {
  return (
    <>
      {of.map(([value, label]) => (
        <option key={value} value={value}>
          {label}
        </option>
      ))}
    </>
  );
}
