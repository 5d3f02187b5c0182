import { SPEAKING_LEVEL, lossBetween, qualityBetween, signalsOf, type FeedSample } from './signals';

const sample = (over: Partial<FeedSample> = {}): FeedSample => ({
  feed: 1,
  audioPacketsReceived: 0,
  audioPacketsLost: 0,
  videoPacketsReceived: 0,
  videoPacketsLost: 0,
  audioLevel: 0,
  ...over,
});

describe('connection quality', () => {
  it('is unknown before anything is measured', () => {
    expect(qualityBetween(undefined, sample())).toBe('unknown');
  });

  it('follows the round-trip time alone on the first sample', () => {
    expect(qualityBetween(undefined, sample({ roundTripTime: 0.05 }))).toBe('good');
    expect(qualityBetween(undefined, sample({ roundTripTime: 0.4 }))).toBe('fair');
    expect(qualityBetween(undefined, sample({ roundTripTime: 1.2 }))).toBe('poor');
  });

  it('counts the packets lost between two samples, audio and video together', () => {
    const before = sample({ audioPacketsReceived: 100, videoPacketsReceived: 900 });
    const after = (lost: number) =>
      sample({ audioPacketsReceived: 150, videoPacketsReceived: 1850 - lost, videoPacketsLost: lost });
    expect(lossBetween(before, after(0))).toBe(0);
    expect(qualityBetween(before, after(0))).toBe('good');
    expect(qualityBetween(before, after(30))).toBe('fair'); // 3 %
    expect(qualityBetween(before, after(100))).toBe('poor'); // 10 %
  });

  it('takes the worse of loss and round-trip time', () => {
    const before = sample({ audioPacketsReceived: 100 });
    expect(qualityBetween(before, sample({ audioPacketsReceived: 200, roundTripTime: 0.9 }))).toBe('poor');
  });

  it('says nothing about loss from a handful of packets', () => {
    const before = sample({ audioPacketsReceived: 100 });
    const after = sample({ audioPacketsReceived: 105, audioPacketsLost: 5 });
    expect(lossBetween(before, after)).toBeUndefined();
    expect(qualityBetween(before, after)).toBe('unknown');
  });

  it('never counts a counter that went back (a renegotiated stream) as negative loss', () => {
    const before = sample({ audioPacketsReceived: 500, audioPacketsLost: 40 });
    const after = sample({ audioPacketsReceived: 600, audioPacketsLost: 0 });
    expect(lossBetween(before, after)).toBe(0);
  });
});

describe('speaking', () => {
  it('is an audio level at or over the threshold, per feed', () => {
    const signals = signalsOf(new Map(), [
      sample({ feed: 1, audioLevel: SPEAKING_LEVEL }),
      sample({ feed: 2, audioLevel: SPEAKING_LEVEL / 2 }),
    ]);
    expect(signals.get(1)?.speaking).toBe(true);
    expect(signals.get(2)?.speaking).toBe(false);
  });
});
