/**
 * Which live pushes came while a read was on its way. The live channel's pushes are counted per topic (a visit's
 * status, a visit's people, a thread, …); a read keeps the counts of when it started (an immutable value, so
 * keeping it costs nothing), and when it answers, every topic pushed since is older news in the answer: the push
 * stands, and the page keeps what it said (or reads again). Pure: reducers hold the counts in their state, a
 * component in a ref.
 */

/** Pushes heard so far, per topic (a topic never pushed is 0). */
export type PushCounts = Readonly<Record<string, number>>;

/** Nothing pushed yet. */
export const NO_PUSHES: PushCounts = Object.freeze({});

/** The counts after one more push about each of `topics`. */
export function afterPush(counts: PushCounts, ...topics: readonly string[]): PushCounts {
  const next: Record<string, number> = { ...counts };
  for (const topic of topics) next[topic] = (next[topic] ?? 0) + 1;
  return next;
}

/**
 * Whether something about `topic` was pushed between `start` (the counts when a read started) and `now`: then
 * the read's answer about it is older than that push. With no topic: whether anything at all was pushed.
 */
export function pushedSince(now: PushCounts, start: PushCounts, topic?: string): boolean {
  if (topic !== undefined) return (now[topic] ?? 0) !== (start[topic] ?? 0);
  return Object.keys(now).some((t) => (now[t] ?? 0) !== (start[t] ?? 0));
}
