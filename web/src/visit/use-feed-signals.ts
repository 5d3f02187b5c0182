/**
 * Speaking and connection quality per remote feed while the visit is live: the room's statistics every
 * SAMPLE_EVERY_MS, turned into signals by ./signals.ts. Stops sampling when the visit is not live or the page
 * unmounts; one sample in flight at a time.
 */
import { useEffect, useRef, useState } from 'react';
import type { MediaRoom } from './janus';
import { signalsOf, type FeedSample, type FeedSignal } from './signals';

/** How often the statistics are read; the speaking ring follows speech within about this much. */
export const SAMPLE_EVERY_MS = 400;

const NONE: ReadonlyMap<number, FeedSignal> = new Map();

function sameSignals(a: ReadonlyMap<number, FeedSignal>, b: ReadonlyMap<number, FeedSignal>): boolean {
  if (a.size !== b.size) return false;
  for (const [feed, s] of b) {
    const t = a.get(feed);
    if (!t || t.speaking !== s.speaking || t.quality !== s.quality) return false;
  }
  return true;
}

/** Signals per feed id (empty until the first sample, and whenever the visit is not live). */
export function useFeedSignals(room: MediaRoom | null, live: boolean): ReadonlyMap<number, FeedSignal> {
  const [signals, setSignals] = useState<ReadonlyMap<number, FeedSignal>>(NONE);
  // The last signals set, to re-render only when one changed.
  const shown = useRef<ReadonlyMap<number, FeedSignal>>(NONE);
  useEffect(() => {
    const show = (next: ReadonlyMap<number, FeedSignal>) => {
      if (sameSignals(shown.current, next)) return;
      shown.current = next;
      setSignals(next);
    };
    if (!room || !live) {
      show(NONE);
      return;
    }
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let previous = new Map<number, FeedSample>();
    const sample = async () => {
      const stats = await room.stats().catch(() => []);
      if (stopped) return;
      show(signalsOf(previous, stats));
      previous = new Map(stats.map((s) => [s.feed, s]));
      timer = setTimeout(() => void sample(), SAMPLE_EVERY_MS);
    };
    void sample();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [room, live]);
  return signals;
}
