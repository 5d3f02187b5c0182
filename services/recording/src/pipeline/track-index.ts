/**
 * Reads the converted track files janus-pp-rec writes (Ogg Opus, and VP8 in WebM through libavformat) into a
 * packet index: per packet its timestamp, duration, key flag and where its bytes are in the file. Only the
 * framing is read (Ogg page headers, EBML element headers, block headers); the media bytes are read later, in
 * order, by the muxer (see webm-writer.ts). Timestamps follow mediabunny's demuxers, which the pipeline used
 * before (ADR 0020): an Ogg stream's packets follow each other from the first page's granule position (less
 * the pre-skip, clamped at 0); a Matroska block's time is its cluster's plus its own, scaled.
 */
import type { FileHandle } from 'node:fs/promises';

/** The packets of one track, as parallel arrays (no object per packet). */
export interface TrackIndex {
  readonly kind: 'audio' | 'video';
  readonly codec: 'opus' | 'vp8';
  /** Opus: the OpusHead (the WebM's CodecPrivate). */
  readonly codecPrivate: Uint8Array | undefined;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  readonly sampleRate: number;
  readonly count: number;
  /** Seconds. */
  readonly timestamps: Float64Array;
  /** Seconds. */
  readonly durations: Float64Array;
  /** File offset of the packet's bytes; negative: `-1 - i`, the bytes are `pieced[i]` (an Ogg packet split across pages). */
  readonly offsets: Float64Array;
  readonly sizes: Uint32Array;
  /** 1: a key frame (every Opus packet). */
  readonly keys: Uint8Array;
  readonly pieced: readonly Uint8Array[];
}

/** A converted file the muxer cannot read. */
export class TrackFileError extends Error {
  override readonly name = 'TrackFileError';
}

/** Growable parallel arrays. */
class Packets {
  count = 0;
  timestamps = new Float64Array(1024);
  durations = new Float64Array(1024);
  offsets = new Float64Array(1024);
  sizes = new Uint32Array(1024);
  keys = new Uint8Array(1024);

  add(timestamp: number, duration: number, offset: number, size: number, key: boolean): number {
    if (this.count === this.sizes.length) this.#grow();
    const i = this.count++;
    this.timestamps[i] = timestamp;
    this.durations[i] = duration;
    this.offsets[i] = offset;
    this.sizes[i] = size;
    this.keys[i] = key ? 1 : 0;
    return i;
  }

  #grow(): void {
    const n = this.sizes.length * 2;
    const grow = <T extends Float64Array | Uint32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.timestamps = grow(this.timestamps, (k) => new Float64Array(k));
    this.durations = grow(this.durations, (k) => new Float64Array(k));
    this.offsets = grow(this.offsets, (k) => new Float64Array(k));
    this.sizes = grow(this.sizes, (k) => new Uint32Array(k));
    this.keys = grow(this.keys, (k) => new Uint8Array(k));
  }

  trimmed(): Pick<TrackIndex, 'count' | 'timestamps' | 'durations' | 'offsets' | 'sizes' | 'keys'> {
    const n = this.count;
    return {
      count: n,
      timestamps: this.timestamps.subarray(0, n),
      durations: this.durations.subarray(0, n),
      offsets: this.offsets.subarray(0, n),
      sizes: this.sizes.subarray(0, n),
      keys: this.keys.subarray(0, n),
    };
  }
}

const WINDOW = 1024 * 1024;

/**
 * Reads of a file through a window (one buffer, reused), for reading it front to back; positions are absolute.
 * Bytes lent by {@link peek} or {@link read} are valid until the next {@link fill}.
 */
export class FileWindow {
  #buffer: Buffer;
  /** File offset of `#buffer[0]`. */
  #start = 0;
  #end = 0;

  constructor(
    private readonly file: FileHandle,
    readonly size: number,
    windowBytes = WINDOW,
  ) {
    this.#buffer = Buffer.allocUnsafe(windowBytes);
  }

  /** Whether the window holds [position, position + length). */
  holds(position: number, length: number): boolean {
    return position >= this.#start && position + length <= this.#end;
  }

  /** The window's buffer (valid until the next {@link fill}); file offset `position` is at `position - start`. */
  get buffer(): Buffer {
    return this.#buffer;
  }

  get start(): number {
    return this.#start;
  }

  /** The bytes [position, position + length) if the window holds them, else undefined (then {@link fill}). */
  peek(position: number, length: number): Buffer | undefined {
    const at = position - this.#start;
    return at >= 0 && position + length <= this.#end ? this.#buffer.subarray(at, at + length) : undefined;
  }

  /**
   * Moves the window to start at `position` and reads at least `length` bytes (a window's worth if more),
   * fewer only at the end of the file. Resolves to how many bytes from `position` it holds.
   */
  async fill(position: number, length: number): Promise<number> {
    if (length > this.#buffer.length) this.#buffer = Buffer.allocUnsafe(length);
    const bytes = Math.min(this.#buffer.length, Math.max(0, this.size - position));
    let got = 0;
    while (got < bytes) {
      const { bytesRead } = await this.file.read(this.#buffer, got, bytes - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.#start = position;
    this.#end = position + got;
    return got;
  }

  /** The bytes [position, position + length); throws TrackFileError past the end of the file. */
  async read(position: number, length: number): Promise<Buffer> {
    const held = this.peek(position, length);
    if (held) return held;
    if ((await this.fill(position, length)) < length) throw new TrackFileError('truncated file');
    return this.peek(position, length)!;
  }
}

/** Samples (48 kHz) in an Opus packet from its first two bytes (RFC 6716 §3.1); `toc` -1: an empty packet. */
function opusSamples(toc: number, second: number): number {
  if (toc < 0) return 0;
  const config = toc >> 3;
  const frame =
    config < 12
      ? [480, 960, 1920, 2880][config & 3]!
      : config < 16
        ? [480, 960][config & 1]!
        : [120, 240, 480, 960][config & 3]!;
  const code = toc & 3;
  const frames = code === 0 ? 1 : code < 3 ? 2 : second & 0x3f;
  return Math.min(frame * frames, 5760);
}

/** Samples (48 kHz) in an Opus packet, from its TOC byte (RFC 6716 §3.1). */
export function opusPacketSamples(packet: Uint8Array): number {
  return opusSamples(packet[0] ?? -1, packet[1] ?? 0);
}

/**
 * Sets the timestamps and durations of an Ogg Opus stream's packets (`samples` and `entries` per audio packet,
 * -1 for an empty one) as mediabunny's Ogg demuxer does: the stream starts where the first audio page's granule
 * position, less the samples of the packets completed on it, says (less the pre-skip); each packet follows the
 * last; both ends clamped at 0; the end-of-stream page's granule position may trim the last packet.
 */
function stampOpusPackets(
  packets: Packets,
  samples: readonly number[],
  entries: readonly number[],
  stream: {
    readonly preSkip: number;
    readonly firstGranule: number | undefined;
    readonly packetsOnFirstPage: number;
    readonly lastGranule: number;
    readonly eos: boolean;
  },
): void {
  const { preSkip, lastGranule, eos } = stream;
  let firstSamples = 0;
  for (let i = 0; i < stream.packetsOnFirstPage; i++) firstSamples += samples[i]!;
  let t = -preSkip + Math.max((stream.firstGranule ?? 0) - firstSamples, 0);
  for (let i = 0; i < samples.length; i++) {
    let n = samples[i]!;
    if (eos && i === samples.length - 1) n = Math.min(Math.max(lastGranule - preSkip - t, 0), n);
    const entry = entries[i]!;
    if (entry >= 0) {
      const start = Math.max(t, 0);
      packets.timestamps[entry] = start / 48_000;
      packets.durations[entry] = (Math.max(t + n, 0) - start) / 48_000;
    }
    t += n;
  }
}

/** Indexes an Ogg Opus file (one logical stream). Throws TrackFileError when it is not one. */
export async function indexOggOpus(file: FileHandle, size: number): Promise<TrackIndex> {
  const w = new FileWindow(file, size);
  const packets = new Packets();
  const pieced: Uint8Array[] = [];
  let head: Uint8Array | undefined;
  let headersSeen = 0;
  let pending: Buffer[] = []; // the start of a packet continued on the next page
  let pendingOffset = 0;
  // Per audio packet: its samples and its index entry (-1: an empty packet, which takes no time to mux).
  // The timestamps are set at the end, once the first audio page's granule position is known.
  const samples: number[] = [];
  const entries: number[] = [];
  let firstGranule: number | undefined;
  let packetsOnFirstPage = 0;
  let lastGranule = 0;
  let eos = false;
  for (let pos = 0; pos < size;) {
    // One page at a time in the window: header, lacing table, body (at most 27 + 255 + 255 × 255 bytes).
    if (!w.holds(pos, 27 + 255) && (await w.fill(pos, 27 + 255 + 65_025)) < 27) {
      throw new TrackFileError('truncated Ogg page');
    }
    let b = w.buffer;
    let p = pos - w.start;
    if (b.readUInt32BE(p) !== 0x4f676753) throw new TrackFileError('not an Ogg page');
    const flags = b[p + 5]!;
    const granule = Number(b.readBigInt64LE(p + 6));
    const segments = b[p + 26]!;
    let bodyLength = 0;
    for (let s = 0; s < segments; s++) bodyLength += b[p + 27 + s]!;
    const pageLength = 27 + segments + bodyLength;
    if (!w.holds(pos, pageLength)) {
      if ((await w.fill(pos, pageLength)) < pageLength) throw new TrackFileError('truncated Ogg page');
      b = w.buffer;
      p = 0;
    }
    const bodyAt = pos + 27 + segments;
    const body = p + 27 + segments; // in b
    let at = 0;
    let length = 0;
    let completed = 0;
    for (let s = 0; s < segments; s++) {
      const lace = b[p + 27 + s]!;
      length += lace;
      if (lace === 255) {
        if (s < segments - 1) continue;
        // The packet continues on the next page.
        if (pending.length === 0) pendingOffset = bodyAt + at;
        pending.push(Buffer.from(b.subarray(body + at, body + at + length)));
        at += length;
        length = 0;
        continue;
      }
      const whole = pending.length === 0;
      let bytes: Buffer | undefined;
      if (!whole || headersSeen < 2) {
        bytes = Buffer.concat([...pending, b.subarray(body + at, body + at + length)]);
      }
      const offset = whole ? bodyAt + at : pendingOffset;
      const packetLength = bytes ? bytes.length : length;
      const toc = bytes ? (bytes[0] ?? -1) : length > 0 ? b[body + at]! : -1;
      const second = bytes ? (bytes[1] ?? 0) : length > 1 ? b[body + at + 1]! : 0;
      pending = [];
      at += length;
      length = 0;
      if (headersSeen < 2) {
        if (headersSeen === 0) {
          if (!bytes || bytes.length < 19 || bytes.toString('latin1', 0, 8) !== 'OpusHead') {
            throw new TrackFileError('not an Ogg Opus stream');
          }
          head = Uint8Array.from(bytes);
        }
        headersSeen += 1;
        continue;
      }
      completed += 1;
      samples.push(opusSamples(toc, second));
      if (packetLength === 0) {
        entries.push(-1);
      } else if (whole) {
        entries.push(packets.add(0, 0, offset, packetLength, true));
      } else {
        pieced.push(Uint8Array.from(bytes!));
        entries.push(packets.add(0, 0, -pieced.length, packetLength, true));
      }
    }
    if (completed > 0 && firstGranule === undefined) {
      firstGranule = granule;
      packetsOnFirstPage = completed;
    }
    if (granule >= 0) lastGranule = granule;
    eos = (flags & 0x04) !== 0;
    pos += pageLength;
  }
  if (!head) throw new TrackFileError('no OpusHead');
  const preSkip = (head[10] ?? 0) | ((head[11] ?? 0) << 8);
  stampOpusPackets(packets, samples, entries, {
    preSkip,
    firstGranule,
    packetsOnFirstPage,
    lastGranule,
    eos,
  });
  return {
    kind: 'audio',
    codec: 'opus',
    codecPrivate: head,
    width: 0,
    height: 0,
    channels: head[9] ?? 1,
    sampleRate: 48_000,
    ...packets.trimmed(),
    pieced,
  };
}

/** Matroska element ids the index reads. */
const ID = {
  Segment: 0x18538067,
  Info: 0x1549a966,
  TimestampScale: 0x2ad7b1,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackType: 0x83,
  CodecID: 0x86,
  CodecPrivate: 0x63a2,
  Video: 0xe0,
  PixelWidth: 0xb0,
  PixelHeight: 0xba,
  Cluster: 0x1f43b675,
  Timestamp: 0xe7,
  SimpleBlock: 0xa3,
  BlockGroup: 0xa0,
  Block: 0xa1,
  ReferenceBlock: 0xfb,
  BlockDuration: 0x9b,
} as const;

/** Master elements the index descends into (their children are read in place). */
const DESCEND: ReadonlySet<number> = new Set([
  ID.Segment,
  ID.Info,
  ID.Tracks,
  ID.TrackEntry,
  ID.Video,
  ID.Cluster,
  ID.BlockGroup,
]);

/** An element header: id (1–4 bytes, marker kept), body size (-1: unknown), header bytes. Reused. */
interface Header {
  id: number;
  size: number;
  length: number;
}

/** Reads the element header at `at` of `b` into `h`. */
function elementHeader(b: Buffer, at: number, h: Header): void {
  const first = b[at]!;
  const idLength = first >= 0x80 ? 1 : first >= 0x40 ? 2 : first >= 0x20 ? 3 : first >= 0x10 ? 4 : 0;
  if (idLength === 0) throw new TrackFileError('bad EBML id');
  let id = 0;
  for (let i = 0; i < idLength; i++) id = id * 256 + b[at + i]!;
  const s = b[at + idLength]!;
  let sizeLength = 1;
  while (sizeLength <= 8 && (s & (0x80 >> (sizeLength - 1))) === 0) sizeLength++;
  if (sizeLength > 8) throw new TrackFileError('bad EBML size');
  let size = s & (0xff >> sizeLength);
  let unknown = size === 0xff >> sizeLength;
  for (let i = 1; i < sizeLength; i++) {
    const v = b[at + idLength + i]!;
    unknown &&= v === 0xff;
    size = size * 256 + v;
  }
  h.id = id;
  h.size = unknown ? -1 : size;
  h.length = idLength + sizeLength;
}

function readUint(b: Buffer): number {
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

/**
 * Indexes the one video track of a WebM/Matroska file (SimpleBlocks or BlockGroups, no lacing). Throws
 * TrackFileError on a file it cannot read or a track it cannot mux (a codec other than VP8, laced blocks).
 */
export async function indexWebmVideo(file: FileHandle, size: number): Promise<TrackIndex> {
  const w = new FileWindow(file, size);
  const packets = new Packets();
  let scale = 1_000_000;
  let cluster = 0;
  let track = -1;
  // The track entry being read.
  let entry: { number: number; type: number; codec: string; width: number; height: number } | undefined;
  let chosen: { codec: string; width: number; height: number } | undefined;
  // The BlockGroup being read: its end and its block's index entry.
  let groupEnd = -1;
  let groupEntry = -1;
  const header: Header = { id: 0, size: 0, length: 0 };
  for (let pos = 0; pos < size;) {
    if (groupEnd >= 0 && pos >= groupEnd) groupEnd = -1;
    // An element header is at most 12 bytes (4-byte id, 8-byte size); a block's own header 4 more.
    if (!w.holds(pos, Math.min(16, size - pos))) await w.fill(pos, 16);
    elementHeader(w.buffer, pos - w.start, header);
    const { id, size: bodySize, length } = header;
    const at = pos + length;
    if (id === ID.TrackEntry) {
      entry = { number: 0, type: 0, codec: '', width: 0, height: 0 };
    }
    if (id === ID.Cluster || id === ID.Tracks) {
      // A track entry ends before the next Tracks/Cluster.
      entry = undefined;
    }
    if (DESCEND.has(id)) {
      if (id === ID.BlockGroup && bodySize >= 0) {
        groupEnd = at + bodySize;
        groupEntry = -1;
      }
      pos = at;
      continue;
    }
    if (bodySize < 0) throw new TrackFileError('unknown-size element');
    pos = at + bodySize;
    switch (id) {
      case ID.TimestampScale:
        scale = readUint(await w.read(at, bodySize));
        break;
      case ID.TrackNumber:
      case ID.TrackType:
      case ID.PixelWidth:
      case ID.PixelHeight: {
        if (!entry) break;
        const v = readUint(await w.read(at, bodySize));
        if (id === ID.TrackNumber) entry.number = v;
        else if (id === ID.TrackType) entry.type = v;
        else if (id === ID.PixelWidth) entry.width = v;
        else entry.height = v;
        if (entry.type === 1 && entry.number > 0 && track < 0) track = entry.number;
        if (entry.number === track) chosen = entry;
        break;
      }
      case ID.CodecID:
        if (entry) entry.codec = (await w.read(at, bodySize)).toString('latin1').replace(/\0+$/, '');
        break;
      case ID.Timestamp:
        cluster = readUint(await w.read(at, bodySize));
        break;
      case ID.SimpleBlock:
      case ID.Block: {
        if (bodySize < 4) throw new TrackFileError('short block');
        if (!w.holds(at, 4)) await w.fill(at, 4);
        const b = w.buffer;
        const o = at - w.start;
        const t = b[o]!;
        if (t < 0x80) throw new TrackFileError('track number over 127');
        if ((t & 0x7f) !== track) break;
        const flags = b[o + 3]!;
        if ((flags & 0x06) !== 0) throw new TrackFileError('laced blocks');
        const time = ((cluster + b.readInt16BE(o + 1)) * scale) / 1e9;
        const key = id === ID.SimpleBlock ? (flags & 0x80) !== 0 : true;
        const i = packets.add(time, 0, at + 4, bodySize - 4, key);
        if (id === ID.Block) groupEntry = i;
        break;
      }
      case ID.ReferenceBlock:
        if (groupEnd >= 0 && groupEntry >= 0) packets.keys[groupEntry] = 0;
        break;
      case ID.BlockDuration:
        if (groupEnd >= 0 && groupEntry >= 0) {
          packets.durations[groupEntry] = (readUint(await w.read(at, bodySize)) * scale) / 1e9;
        }
        break;
      default:
        break;
    }
  }
  if (!chosen || track < 0) throw new TrackFileError('no video track');
  if (chosen.codec !== 'V_VP8') throw new TrackFileError(`codec ${chosen.codec} is not muxed`);
  // A frame lasts until the next one; the last as long as the one before it.
  const { count, timestamps, durations } = packets;
  for (let i = 0; i < count; i++) {
    if (durations[i]! > 0) continue;
    const next = i + 1 < count ? timestamps[i + 1]! - timestamps[i]! : i > 0 ? durations[i - 1]! : 0;
    durations[i] = Math.max(0, next);
  }
  return {
    kind: 'video',
    codec: 'vp8',
    codecPrivate: undefined,
    width: chosen.width,
    height: chosen.height,
    channels: 0,
    sampleRate: 0,
    ...packets.trimmed(),
    pieced: [],
  };
}
