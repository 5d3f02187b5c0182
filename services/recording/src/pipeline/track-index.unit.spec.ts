import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  ALL_FORMATS,
  BufferSource,
  BufferTarget,
  EncodedAudioPacketSource,
  EncodedPacket,
  EncodedPacketSink,
  EncodedVideoPacketSource,
  Input,
  OggOutputFormat,
  Output,
  WebMOutputFormat,
} from 'mediabunny';
import { indexOggOpus, indexWebmVideo, opusPacketSamples, type TrackIndex } from './track-index';

const OPUS_HEAD = Uint8Array.from([
  0x4f, 0x70, 0x75, 0x73, 0x48, 0x65, 0x61, 0x64, 1, 2, 0, 0, 0x80, 0xbb, 0, 0, 0, 0, 0,
]);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'haven-track-index-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function indexed(bytes: Uint8Array, kind: 'audio' | 'video'): Promise<TrackIndex> {
  const path = join(dir, `track-${kind}`);
  writeFileSync(path, bytes);
  const handle = await open(path, 'r');
  try {
    return kind === 'audio'
      ? await indexOggOpus(handle, bytes.length)
      : await indexWebmVideo(handle, bytes.length);
  } finally {
    await handle.close();
  }
}

/** What mediabunny's demuxer reads from `bytes`, packet by packet. */
async function demuxed(
  bytes: Uint8Array,
): Promise<{ timestamp: number; duration: number; key: boolean; data: Buffer }[]> {
  const input = new Input({ source: new BufferSource(bytes), formats: ALL_FORMATS });
  try {
    const [track] = await input.getTracks();
    const out = [];
    for await (const p of new EncodedPacketSink(track!).packets()) {
      out.push({
        timestamp: p.timestamp,
        duration: p.duration,
        key: p.type === 'key',
        data: Buffer.from(p.data),
      });
    }
    return out;
  } finally {
    input.dispose();
  }
}

function packetsOf(index: TrackIndex, file: Uint8Array) {
  return Array.from({ length: index.count }, (_, i) => {
    const offset = index.offsets[i]!;
    const data = offset < 0 ? index.pieced[-offset - 1]! : file.subarray(offset, offset + index.sizes[i]!);
    return {
      timestamp: index.timestamps[i]!,
      duration: index.durations[i]!,
      key: index.keys[i] === 1,
      data: Buffer.from(data),
    };
  });
}

/** An Opus packet: a TOC byte (any configuration, frame count code 0–2) and `size - 1` more bytes. */
const opusPacket = fc
  .record({
    config: fc.integer({ min: 0, max: 31 }),
    code: fc.integer({ min: 0, max: 2 }),
    // Mostly small, some larger than an Ogg page holds (continued on the next page).
    size: fc.oneof(
      { weight: 9, arbitrary: fc.integer({ min: 1, max: 400 }) },
      fc.integer({ min: 4000, max: 70_000 }),
    ),
    seed: fc.integer({ min: 0, max: 255 }),
  })
  .map(({ config, code, size, seed }) => {
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = (seed + i * 29) & 0xff;
    data[0] = (config << 3) | code;
    return data;
  });

describe('indexing the converted tracks', () => {
  it('reads an Ogg Opus file as mediabunny does: every packet, its bytes, time and duration', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opusPacket, { minLength: 1, maxLength: 80 }), async (packets) => {
        const target = new BufferTarget();
        const output = new Output({ format: new OggOutputFormat(), target });
        const source = new EncodedAudioPacketSource('opus');
        output.addAudioTrack(source);
        await output.start();
        let t = 0;
        for (const [i, data] of packets.entries()) {
          const duration = opusPacketSamples(data) / 48_000;
          await source.add(
            new EncodedPacket(data, 'key', t, duration),
            i === 0
              ? {
                  decoderConfig: {
                    codec: 'opus',
                    numberOfChannels: 2,
                    sampleRate: 48_000,
                    description: OPUS_HEAD,
                  },
                }
              : undefined,
          );
          t += duration;
        }
        await output.finalize();
        const file = new Uint8Array(target.buffer!);
        const index = await indexed(file, 'audio');
        expect(index.codecPrivate?.subarray(0, 8)).toEqual(OPUS_HEAD.subarray(0, 8));
        expect(index.channels).toBe(2);
        expect(packetsOf(index, file)).toEqual(await demuxed(file));
      }),
      { numRuns: 30 },
    );
  });

  it('reads a WebM video track as mediabunny does: every frame, its bytes, time and key flag', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            gapMs: fc.integer({ min: 0, max: 40_000 }),
            size: fc.integer({ min: 1, max: 5000 }),
            key: fc.boolean(),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        async (frames) => {
          const target = new BufferTarget();
          const output = new Output({ format: new WebMOutputFormat(), target });
          const source = new EncodedVideoPacketSource('vp8');
          output.addVideoTrack(source);
          await output.start();
          let ms = 0;
          for (const [i, f] of frames.entries()) {
            ms += f.gapMs;
            const data = new Uint8Array(f.size);
            for (let j = 0; j < f.size; j++) data[j] = (i * 7 + j * 13) & 0xff;
            await source.add(
              new EncodedPacket(data, i === 0 || f.key ? 'key' : 'delta', ms / 1000, 0.033),
              i === 0 ? { decoderConfig: { codec: 'vp8', codedWidth: 320, codedHeight: 240 } } : undefined,
            );
          }
          await output.finalize();
          const file = new Uint8Array(target.buffer!);
          const index = await indexed(file, 'video');
          expect([index.width, index.height]).toEqual([320, 240]);
          const ours = packetsOf(index, file).map(({ duration: _, ...p }) => p);
          expect(ours).toEqual((await demuxed(file)).map(({ duration: _, ...p }) => p));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('reads BlockGroups (a ReferenceBlock: not a key frame) and clusters of unknown size, as libavformat may write', async () => {
    // An element with a 4-byte size, or an unknown size (8 bytes, all ones).
    const el = (id: number[], body: number[], unknown = false): number[] => {
      const size = unknown
        ? [0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        : [0x10, 0, (body.length >> 8) & 0xff, body.length & 0xff];
      return [...id, ...size, ...body];
    };
    const u = (id: number[], v: number): number[] => el(id, [v]);
    const block = (ts: number, flags: number, byte: number): number[] => [0x81, 0, ts, flags, byte, byte];
    const file = Uint8Array.from([
      ...el([0x1a, 0x45, 0xdf, 0xa3], [...el([0x42, 0x82], [0x77, 0x65, 0x62, 0x6d])]),
      ...el(
        [0x18, 0x53, 0x80, 0x67],
        [
          ...el(
            [0x16, 0x54, 0xae, 0x6b],
            [
              ...el(
                [0xae],
                [
                  ...u([0xd7], 1),
                  ...u([0x83], 1),
                  ...el([0x86], [...Buffer.from('V_VP8')]),
                  ...el([0xe0], [...u([0xb0], 64), ...u([0xba], 48)]),
                ],
              ),
            ],
          ),
          ...el(
            [0x1f, 0x43, 0xb6, 0x75],
            [
              ...u([0xe7], 10),
              ...el([0xa0], [...el([0xa1], block(0, 0, 1))]),
              ...el([0xa0], [...el([0xa1], block(20, 0, 2)), ...el([0xfb], [0xec]), ...u([0x9b], 25)]),
              ...el([0xa3], block(40, 0x00, 3)),
              ...el([0xa3], block(60, 0x80, 4)),
            ],
            true,
          ),
        ],
        true,
      ),
    ]);
    const index = await indexed(file, 'video');
    expect([index.width, index.height]).toEqual([64, 48]);
    const micro = (x: number): number => Math.round(x * 1e6) / 1e6;
    expect(
      packetsOf(index, file).map((p) => ({
        ...p,
        timestamp: micro(p.timestamp),
        duration: micro(p.duration),
      })),
    ).toEqual([
      { timestamp: 0.01, duration: 0.02, key: true, data: Buffer.from([1, 1]) },
      { timestamp: 0.03, duration: 0.025, key: false, data: Buffer.from([2, 2]) },
      { timestamp: 0.05, duration: 0.02, key: false, data: Buffer.from([3, 3]) },
      { timestamp: 0.07, duration: 0.02, key: true, data: Buffer.from([4, 4]) },
    ]);
  });

  it('refuses a file that is not Ogg, and a WebM without a video track', async () => {
    await expect(indexed(Buffer.from('not an ogg page at all....................'), 'audio')).rejects.toThrow(
      'not an Ogg page',
    );
    await expect(indexed(Uint8Array.from([0x1a, 0x45, 0xdf, 0xa3, 0x80]), 'video')).rejects.toThrow(
      'no video track',
    );
  });
});
