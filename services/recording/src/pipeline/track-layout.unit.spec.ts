import { trackLayout } from './pipeline';
import type { RawTrack } from './janus-pp-rec';

const raw = (feed: string, kind: 'audio' | 'video', firstPacketMicros: number): RawTrack => ({
  path: `/rec/${feed}-${kind}.mjr`,
  kind,
  codec: kind === 'audio' ? 'opus' : 'vp8',
  feed,
  firstPacketMicros,
});

describe('laying out the tracks of a recording', () => {
  it('aligns each track by its first packet and names participants without PHI', () => {
    const tracks = [
      raw('111', 'audio', 5_000_000),
      raw('111', 'video', 5_100_000),
      raw('222', 'video', 7_500_000),
    ];
    expect(trackLayout(tracks, ['a.opus', 'a.webm', 'b.webm'])).toEqual([
      { path: 'a.opus', kind: 'audio', offsetSeconds: 0, name: 'participant 1 microphone' },
      { path: 'a.webm', kind: 'video', offsetSeconds: 0.1, name: 'participant 1 video' },
      { path: 'b.webm', kind: 'video', offsetSeconds: 2.5, name: 'participant 2 video' },
    ]);
  });

  it('puts the tracks that start first first: a player plays the first audio and video track by default', () => {
    // A device that joined a recorded visit late: its files may sort before everyone else's.
    const tracks = [
      raw('000', 'video', 9_000_000),
      raw('000', 'audio', 9_000_000),
      raw('111', 'audio', 5_000_000),
      raw('111', 'video', 5_100_000),
    ];
    expect(trackLayout(tracks, ['late.webm', 'late.opus', 'a.opus', 'a.webm'])).toEqual([
      { path: 'a.opus', kind: 'audio', offsetSeconds: 0, name: 'participant 1 microphone' },
      { path: 'a.webm', kind: 'video', offsetSeconds: 0.1, name: 'participant 1 video' },
      { path: 'late.webm', kind: 'video', offsetSeconds: 4, name: 'participant 2 video' },
      { path: 'late.opus', kind: 'audio', offsetSeconds: 4, name: 'participant 2 microphone' },
    ]);
  });
});
