import fc from 'fast-check';
import { ALL_FORMATS, BufferSource, EncodedPacketSink, Input } from 'mediabunny';
import { planWebm, writeWebm, type PacketBytes, type WriterTrack } from './webm-writer';

/** An OpusHead: version 1, stereo, no pre-skip, 48 kHz. */
const OPUS_HEAD = Uint8Array.from([
  0x4f, 0x70, 0x75, 0x73, 0x48, 0x65, 0x61, 0x64, 1, 2, 0, 0, 0x80, 0xbb, 0, 0, 0, 0, 0,
]);

interface Spec {
  readonly kind: 'audio' | 'video';
  readonly startMs: number;
  readonly packets: readonly { gapMs: number; size: number; key: boolean }[];
}

/** Bytes of packet `i` of track `k`: a VP8-like frame tag (bit 0 clear on a key frame), then a pattern. */
function payload(k: number, i: number, size: number, video: boolean, key: boolean): Uint8Array {
  const data = new Uint8Array(size);
  for (let j = 0; j < size; j++) data[j] = (k * 31 + i * 7 + j * 13) & 0xff;
  if (video) data[0] = (data[0]! & 0xfe) | (key ? 0 : 1);
  return data;
}

function tracksOf(specs: readonly Spec[]): { tracks: WriterTrack[]; data: Uint8Array[][] } {
  const data: Uint8Array[][] = [];
  const tracks = specs.map((s, k): WriterTrack => {
    const n = s.packets.length;
    const timestamps = new Float64Array(n);
    const durations = new Float64Array(n);
    const sizes = new Uint32Array(n);
    const keys = new Uint8Array(n);
    const bytes: Uint8Array[] = [];
    let ms = s.startMs;
    for (const [i, p] of s.packets.entries()) {
      ms += p.gapMs;
      const key = s.kind === 'audio' || i === 0 || p.key;
      timestamps[i] = ms / 1000;
      durations[i] = 0.02;
      sizes[i] = p.size;
      keys[i] = key ? 1 : 0;
      bytes.push(payload(k, i, p.size, s.kind === 'video', key));
    }
    data.push(bytes);
    return {
      kind: s.kind,
      codec: s.kind === 'audio' ? 'opus' : 'vp8',
      name: `participant ${k + 1} ${s.kind}`,
      codecPrivate: s.kind === 'audio' ? OPUS_HEAD : undefined,
      width: 640,
      height: 480,
      channels: 2,
      sampleRate: 48_000,
      count: n,
      timestamps,
      durations,
      sizes,
      keys,
    };
  });
  return { tracks, data };
}

async function written(
  tracks: readonly WriterTrack[],
  data: Uint8Array[][],
  pieceBytes?: number,
): Promise<{ file: Buffer; pieces: number; size: number; duration: number }> {
  const plan = planWebm(tracks);
  // Half the packets are at hand, half must be loaded (as when a file's window moves on).
  const bytes: PacketBytes = {
    peek: (k, i) => ((k + i) % 2 === 0 ? data[k]![i] : undefined),
    load: async (k, i) => data[k]![i]!,
  };
  const pieces: Uint8Array[] = [];
  // Each piece is lent until the next is pulled: copied.
  for await (const piece of writeWebm(plan, tracks, bytes, pieceBytes ? { pieceBytes } : {})) {
    pieces.push(Uint8Array.from(piece));
  }
  return {
    file: Buffer.concat(pieces),
    pieces: pieces.length,
    size: plan.size,
    duration: plan.durationSeconds,
  };
}

/** An EBML element's id, size and where its body starts. */
function elementAt(b: Buffer, at: number): { id: number; size: number; body: number } {
  const first = b[at]!;
  const il = first >= 0x80 ? 1 : first >= 0x40 ? 2 : first >= 0x20 ? 3 : 4;
  let id = 0;
  for (let i = 0; i < il; i++) id = id * 256 + b[at + i]!;
  const s = b[at + il]!;
  let sl = 1;
  while (sl < 8 && (s & (0x80 >> (sl - 1))) === 0) sl++;
  let size = s & (0xff >> sl);
  for (let i = 1; i < sl; i++) size = size * 256 + b[at + il + i]!;
  return { id, size, body: at + il + sl };
}

function uintAt(b: Buffer, at: number, size: number): number {
  let v = 0;
  for (let i = 0; i < size; i++) v = v * 256 + b[at + i]!;
  return v;
}

/**
 * Checks every cue by reading what it points at (independently of mediabunny, which does not check them): a
 * Cluster at CueClusterPosition, and at CueRelativePosition in it a SimpleBlock of CueTrack at CueTime, a key
 * frame. Returns the number of cues.
 */
function checkCues(file: Buffer): number {
  const segment = elementAt(file, elementAt(file, 0).body + elementAt(file, 0).size);
  let cues: { body: number; size: number } | undefined;
  for (let at = segment.body; at < file.length;) {
    const e = elementAt(file, at);
    if (e.id === 0x1c53bb6b) cues = e;
    if (e.id === 0x1f43b675) break;
    at = e.body + e.size;
  }
  if (!cues) return 0;
  let count = 0;
  for (let at = cues.body; at < cues.body + cues.size;) {
    const point = elementAt(file, at);
    expect(point.id).toBe(0xbb);
    let time = -1;
    for (let p = point.body; p < point.body + point.size;) {
      const e = elementAt(file, p);
      if (e.id === 0xb3) time = uintAt(file, e.body, e.size);
      if (e.id === 0xb7) {
        const f: Record<number, number> = {};
        for (let q = e.body; q < e.body + e.size;) {
          const g = elementAt(file, q);
          f[g.id] = uintAt(file, g.body, g.size);
          q = g.body + g.size;
        }
        const cluster = elementAt(file, segment.body + f[0xf1]!);
        expect(cluster.id).toBe(0x1f43b675);
        const timestamp = elementAt(file, cluster.body);
        expect(timestamp.id).toBe(0xe7);
        const block = elementAt(file, cluster.body + f[0xf0]!);
        expect(block.id).toBe(0xa3);
        expect(file[block.body]! & 0x7f).toBe(f[0xf7]);
        expect(uintAt(file, timestamp.body, timestamp.size) + file.readInt16BE(block.body + 1)).toBe(time);
        expect(file[block.body + 3]! & 0x80).toBe(0x80);
        count++;
      }
      p = e.body + e.size;
    }
    at = point.body + point.size;
  }
  return count;
}

const packet = fc.record({
  // Mostly a frame's worth apart, sometimes a long silence (past a cluster's 32.767 s), sometimes no time at all.
  gapMs: fc.oneof(
    { weight: 8, arbitrary: fc.double({ min: 0, max: 60, noNaN: true }) },
    { weight: 1, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.double({ min: 1000, max: 40_000, noNaN: true }) },
  ),
  size: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 8000 })),
  key: fc.boolean(),
});
const spec: fc.Arbitrary<Spec> = fc.record({
  kind: fc.constantFrom('audio' as const, 'video' as const),
  startMs: fc.double({ min: 0, max: 5000, noNaN: true }),
  packets: fc.array(packet, { minLength: 1, maxLength: 30 }),
});

describe('the WebM writer', () => {
  it('writes random packet sequences that mediabunny reads back packet for packet, in order, with their times', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(spec, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 70_000 }),
        async (specs, pieceBytes) => {
          const { tracks, data } = tracksOf(specs);
          const out = await written(tracks, data, pieceBytes);
          expect(out.file.length).toBe(out.size);
          // Each audio track is cued at least once (its first block), each video key frame once.
          const keys = tracks.reduce(
            (n, t) => n + (t.kind === 'video' ? t.keys.filter((k) => k).length : 1),
            0,
          );
          expect(checkCues(out.file)).toBeGreaterThanOrEqual(keys);
          const input = new Input({ source: new BufferSource(out.file), formats: ALL_FORMATS });
          try {
            expect(await input.getMimeType()).toMatch(/^(video|audio)\/webm/);
            const read = await input.getTracks();
            expect(read.map((t) => `${t.type}:${t.codec}:${t.name}`)).toEqual(
              tracks.map((t) => `${t.kind}:${t.codec}:${t.name}`),
            );
            for (const [k, t] of tracks.entries()) {
              const got: { timestamp: number; key: boolean; data: Buffer }[] = [];
              for await (const p of new EncodedPacketSink(read[k]!).packets()) {
                got.push({ timestamp: p.timestamp, key: p.type === 'key', data: Buffer.from(p.data) });
              }
              const want = Array.from({ length: t.count }, (_, i) => ({
                timestamp: Math.round(t.timestamps[i]! * 1000) / 1000,
                key: t.keys[i] === 1,
                data: Buffer.from(data[k]![i]!),
              }));
              expect(got).toEqual(want);
            }
            const end = Math.max(...tracks.map((t) => t.timestamps[t.count - 1]! + 0.02));
            expect(out.duration).toBeCloseTo(end, 9);
            expect(await input.getDurationFromMetadata()).toBeCloseTo(Math.round(end * 1000) / 1000, 6);
          } finally {
            input.dispose();
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('puts the Cues before the first cluster and points the SeekHead at them', async () => {
    const { tracks, data } = tracksOf([
      {
        kind: 'video',
        startMs: 0,
        packets: Array.from({ length: 200 }, (_, i) => ({ gapMs: 33, size: 500, key: i % 60 === 0 })),
      },
      {
        kind: 'audio',
        startMs: 10,
        packets: Array.from({ length: 330 }, () => ({ gapMs: 20, size: 60, key: true })),
      },
    ]);
    const { file } = await written(tracks, data);
    // SeekHead entry for the Cues: SeekID 1C53BB6B, then its position (8 bytes) from the segment's data start.
    const seekId = file.indexOf(Buffer.from([0x53, 0xab, 0x84, 0x1c, 0x53, 0xbb, 0x6b]));
    expect(seekId).toBeGreaterThan(0);
    const cues = file.indexOf(Buffer.from([0x1c, 0x53, 0xbb, 0x6b]), seekId + 7);
    const cluster = file.indexOf(Buffer.from([0x1f, 0x43, 0xb6, 0x75]));
    expect(cues).toBeGreaterThan(0);
    expect(cues).toBeLessThan(cluster);
    const position = Number(file.readBigUInt64BE(seekId + 7 + 3));
    const segmentData = file.indexOf(Buffer.from([0x18, 0x53, 0x80, 0x67])) + 12;
    expect(segmentData + position).toBe(cues);
    // A new cluster at each video key frame (every 60 frames, about 2 s): 4 clusters, each cued.
    let clusters = 0;
    for (let at = file.indexOf(Buffer.from([0x1f, 0x43, 0xb6, 0x75])); at >= 0;) {
      clusters++;
      at = file.indexOf(Buffer.from([0x1f, 0x43, 0xb6, 0x75]), at + 4);
    }
    expect(clusters).toBe(4);
    // Cued: 4 video key frames, and the audio track's first block in each of the 4 clusters.
    expect(checkCues(file)).toBe(8);
    const input = new Input({ source: new BufferSource(file), formats: ALL_FORMATS });
    try {
      const [video] = await input.getVideoTracks();
      // Seeking through the index: the key frame at or before 4.1 s is the third (frame 121, 121 × 33 ms).
      const key = await new EncodedPacketSink(video!).getKeyPacket(4.1);
      expect(key?.timestamp).toBeCloseTo(3.993, 6);
    } finally {
      input.dispose();
    }
  });

  it('writes a recording with no packets as a header mediabunny opens (no clusters, no cues)', async () => {
    const { tracks, data } = tracksOf([{ kind: 'audio', startMs: 0, packets: [] }]);
    const { file, size } = await written(tracks, data);
    expect(file.length).toBe(size);
    const input = new Input({ source: new BufferSource(file), formats: ALL_FORMATS });
    try {
      expect(await input.getTracks()).toHaveLength(1);
      expect(file.indexOf(Buffer.from([0x1f, 0x43, 0xb6, 0x75]))).toBe(-1);
    } finally {
      input.dispose();
    }
  });
});
