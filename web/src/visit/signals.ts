/**
 * What a tile says about its participant besides the picture: whether they are speaking and how good the
 * connection to them is, both read from WebRTC statistics (no audio is analysed on the page). Pure: the hook in
 * ./use-feed-signals.ts feeds it two samples of each feed's statistics.
 */

/** Connection quality as a participant sees it: bars on the tile and words for a screen reader. */
export type Quality = 'good' | 'fair' | 'poor' | 'unknown';

/** One sample of a remote feed's inbound statistics (cumulative counters, as getStats reports them). */
export interface FeedSample {
  readonly feed: number;
  /** Audio packets received and lost so far (inbound-rtp, kind audio). */
  readonly audioPacketsReceived: number;
  readonly audioPacketsLost: number;
  /** Video packets received and lost so far (inbound-rtp, kind video). */
  readonly videoPacketsReceived: number;
  readonly videoPacketsLost: number;
  /** The latest audio level, 0–1 (inbound-rtp audioLevel); 0 when the browser does not say. */
  readonly audioLevel: number;
  /** The selected candidate pair's round-trip time in seconds; undefined when the browser does not say. */
  readonly roundTripTime?: number | undefined;
}

/** What the tile shows for one feed. */
export interface FeedSignal {
  readonly speaking: boolean;
  readonly quality: Quality;
}

/**
 * Speaking when the audio level is over about -30 dBov (0.03 of full scale): a voice at normal distance is well
 * over it, room noise and comfort noise stay under.
 */
export const SPEAKING_LEVEL = 0.03;

/** Loss share and round-trip time (s) at which the quality drops a step (ITU-T G.114 / common VoIP guidance). */
const FAIR = { loss: 0.02, rtt: 0.3 } as const;
const POOR = { loss: 0.08, rtt: 0.8 } as const;
/** Fewer packets than this between two samples say nothing reliable about loss. */
const MIN_PACKETS = 20;

/** The share of packets lost between two samples (audio and video together); undefined when too few arrived. */
export function lossBetween(before: FeedSample, after: FeedSample): number | undefined {
  const received =
    after.audioPacketsReceived -
    before.audioPacketsReceived +
    (after.videoPacketsReceived - before.videoPacketsReceived);
  const lost = Math.max(
    0,
    after.audioPacketsLost - before.audioPacketsLost + (after.videoPacketsLost - before.videoPacketsLost),
  );
  if (received + lost < MIN_PACKETS) return undefined;
  return lost / (received + lost);
}

/** The quality between two samples of one feed: the worse of what loss and round-trip time say. */
export function qualityBetween(before: FeedSample | undefined, after: FeedSample): Quality {
  const loss = before ? lossBetween(before, after) : undefined;
  const rtt = after.roundTripTime;
  if (loss === undefined && rtt === undefined) return 'unknown';
  if ((loss ?? 0) >= POOR.loss || (rtt ?? 0) >= POOR.rtt) return 'poor';
  if ((loss ?? 0) >= FAIR.loss || (rtt ?? 0) >= FAIR.rtt) return 'fair';
  return 'good';
}

/** The signal of every feed in `after`, given the previous samples. */
export function signalsOf(
  before: ReadonlyMap<number, FeedSample>,
  after: readonly FeedSample[],
): Map<number, FeedSignal> {
  const out = new Map<number, FeedSignal>();
  for (const sample of after) {
    out.set(sample.feed, {
      speaking: sample.audioLevel >= SPEAKING_LEVEL,
      quality: qualityBetween(before.get(sample.feed), sample),
    });
  }
  return out;
}

/** Words for a quality, for the tile's label and screen readers. */
export const QUALITY_WORDS: Readonly<Record<Quality, string>> = {
  good: 'Connection good',
  fair: 'Connection fair',
  poor: 'Connection poor',
  unknown: 'Connection not measured yet',
};
