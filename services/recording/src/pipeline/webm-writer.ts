/**
 * A WebM writer for the recording pipeline (ADR 0020): the whole file is laid out from the packet index before
 * a byte is written — block sizes are the packets' sizes, so every cluster's size, the Cues, the Duration and
 * the SeekHead are known up front — and then written front to back as one stream, straight into the
 * encryption: no element objects, no promise per packet, no file to go back and patch.
 *
 * Layout: EBML header, Segment (size known) { SeekHead (Info, Tracks, Cues), Info (TimestampScale 1 ms,
 * Duration), Tracks, Cues, Clusters of SimpleBlocks }. The Cues come before the clusters (a player reads them
 * with the header instead of asking for the end of the file); their positions are written in 8 bytes, so
 * their size does not depend on the values. A cluster starts at a key frame of the first video track (at least
 * a second after the last start), or when a block would be more than 32.767 s after its cluster's start. Cue
 * points: every video key frame, and each audio track's first block in each cluster.
 */

import type { TrackIndex } from './track-index';

/**
 * One track of the output: its packet index without where the bytes are (those come through {@link PacketBytes}),
 * its timestamps already moved to the recording's time, and its name.
 */
export interface WriterTrack extends Omit<TrackIndex, 'offsets' | 'pieced'> {
  readonly name: string;
  /** Packets left out (0: muxed): video before its first key frame, or going back before its last key frame. */
  readonly skip?: Uint8Array;
}

/** Where each block goes; from {@link planWebm}. */
export interface WebmPlan {
  /** EBML header, Segment header, SeekHead, Info, Tracks, Cues: written first. */
  readonly header: Uint8Array;
  /** Total bytes of the file. */
  readonly size: number;
  /** max(timestamp + duration) over the muxed packets, seconds. */
  readonly durationSeconds: number;
  /** The blocks in file order: track index and packet index. */
  readonly blockTracks: Uint8Array;
  readonly blockPackets: Uint32Array;
  /** Per block: its time relative to its cluster (ms). */
  readonly blockRelative: Int16Array;
  /** Cluster starts: index of the first block, and the cluster's timestamp (ms). */
  readonly clusterFirst: Uint32Array;
  readonly clusterTime: Float64Array;
  /** Per cluster: bytes of its body (Timestamp element and blocks). */
  readonly clusterBodySize: Float64Array;
}

const ID = {
  EBML: 0x1a45dfa3,
  EBMLVersion: 0x4286,
  EBMLReadVersion: 0x42f7,
  EBMLMaxIDLength: 0x42f2,
  EBMLMaxSizeLength: 0x42f3,
  DocType: 0x4282,
  DocTypeVersion: 0x4287,
  DocTypeReadVersion: 0x4285,
  Segment: 0x18538067,
  SeekHead: 0x114d9b74,
  Seek: 0x4dbb,
  SeekID: 0x53ab,
  SeekPosition: 0x53ac,
  Info: 0x1549a966,
  TimestampScale: 0x2ad7b1,
  MuxingApp: 0x4d80,
  WritingApp: 0x5741,
  Duration: 0x4489,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackUID: 0x73c5,
  TrackType: 0x83,
  FlagLacing: 0x9c,
  Language: 0x22b59c,
  CodecID: 0x86,
  CodecPrivate: 0x63a2,
  SeekPreRoll: 0x56bb,
  Name: 0x536e,
  Video: 0xe0,
  PixelWidth: 0xb0,
  PixelHeight: 0xba,
  Audio: 0xe1,
  SamplingFrequency: 0xb5,
  Channels: 0x9f,
  Cues: 0x1c53bb6b,
  CuePoint: 0xbb,
  CueTime: 0xb3,
  CueTrackPositions: 0xb7,
  CueTrack: 0xf7,
  CueClusterPosition: 0xf1,
  CueRelativePosition: 0xf0,
  Cluster: 0x1f43b675,
  Timestamp: 0xe7,
  SimpleBlock: 0xa3,
} as const;

/** A cluster holds blocks up to this far after its start (a block's time is a signed 16-bit offset). */
const MAX_CLUSTER_SPAN_MS = 32_767;
/** A new cluster at a key frame only this long after the last one started. */
const MIN_CLUSTER_MS = 1000;
const APP = 'haven';

/** Bytes of an element id (its marker bits included). */
function idLength(id: number): number {
  return id >= 0x1000000 ? 4 : id >= 0x10000 ? 3 : id >= 0x100 ? 2 : 1;
}

/** Bytes of the smallest EBML size field for `size`. */
export function sizeLength(size: number): number {
  let n = 1;
  while (n < 8 && size >= 2 ** (7 * n) - 1) n++;
  return n;
}

/** Bytes of the smallest unsigned integer holding `v`. */
function uintLength(v: number): number {
  let n = 1;
  while (n < 8 && v >= 2 ** (8 * n)) n++;
  return n;
}

function putUint(out: Uint8Array, at: number, v: number, bytes: number): void {
  for (let i = bytes - 1; i >= 0; i--) {
    out[at + i] = v % 256;
    v = Math.floor(v / 256);
  }
}

/** Writes an EBML size field of `bytes` bytes at `at`. */
export function putSize(out: Uint8Array, at: number, size: number, bytes: number): void {
  putUint(out, at, size, bytes);
  out[at] = out[at]! | (0x80 >> (bytes - 1));
}

/** An element of the (small) header part: built as bytes. */
function element(id: number, body: Uint8Array, fixedSizeBytes?: number): Uint8Array {
  const il = idLength(id);
  const sl = fixedSizeBytes ?? sizeLength(body.length);
  const out = new Uint8Array(il + sl + body.length);
  putUint(out, 0, id, il);
  putSize(out, il, body.length, sl);
  out.set(body, il + sl);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function uint(id: number, v: number, bytes = uintLength(v)): Uint8Array {
  const body = new Uint8Array(bytes);
  putUint(body, 0, v, bytes);
  return element(id, body);
}

function text(id: number, s: string): Uint8Array {
  return element(id, new TextEncoder().encode(s));
}

function float64(id: number, v: number): Uint8Array {
  const body = new Uint8Array(8);
  new DataView(body.buffer).setFloat64(0, v);
  return element(id, body);
}

function master(id: number, children: readonly Uint8Array[]): Uint8Array {
  return element(id, concat(children));
}

function trackEntry(t: WriterTrack, number: number): Uint8Array {
  const common = [
    uint(ID.TrackNumber, number),
    uint(ID.TrackUID, number),
    uint(ID.TrackType, t.kind === 'video' ? 1 : 2),
    uint(ID.FlagLacing, 0),
    text(ID.Language, 'und'),
    text(ID.CodecID, t.codec === 'vp8' ? 'V_VP8' : 'A_OPUS'),
    ...(t.codecPrivate ? [element(ID.CodecPrivate, t.codecPrivate)] : []),
    ...(t.codec === 'opus' ? [uint(ID.SeekPreRoll, 80_000_000)] : []),
    text(ID.Name, t.name),
  ];
  const specific =
    t.kind === 'video'
      ? master(ID.Video, [uint(ID.PixelWidth, t.width), uint(ID.PixelHeight, t.height)])
      : master(ID.Audio, [float64(ID.SamplingFrequency, t.sampleRate), uint(ID.Channels, t.channels)]);
  return master(ID.TrackEntry, [...common, specific]);
}

/** Bytes of a SimpleBlock element holding `size` bytes of media (track number < 127). */
export function simpleBlockLength(size: number): number {
  const body = size + 4;
  return 1 + sizeLength(body) + body;
}

/** A cue: a block that starts playback (time in ms, its track, its cluster, where in the cluster). */
interface Cue {
  time: number;
  track: number;
  cluster: number;
  relative: number;
}

/** Bytes of a CueTrackPositions: CueTrack (one byte), CueClusterPosition and CueRelativePosition (8 bytes each). */
const CUE_TRACK_POSITIONS_BYTES = 2 + 3 + 10 + 10;

/** The blocks, clusters and cues of a WebM, before positions are known. */
type Layout = Omit<WebmPlan, 'header' | 'size' | 'durationSeconds'> & { cues: Cue[]; end: number };

/**
 * Merges the packets of `tracks` by timestamp (ties: the earlier track first), each track's packets in their
 * order; cuts clusters; notes the cues.
 */
function layOut(tracks: readonly WriterTrack[]): Layout {
  let total = 0;
  for (const t of tracks) {
    for (let i = 0; i < t.count; i++) if (!t.skip?.[i]) total++;
  }
  const blockTracks = new Uint8Array(total);
  const blockPackets = new Uint32Array(total);
  const blockRelative = new Int16Array(total);
  const clusterFirst: number[] = [];
  const clusterTime: number[] = [];
  const clusterBodySize: number[] = [];
  const cues: Cue[] = [];
  const primary = Math.max(
    0,
    tracks.findIndex((t) => t.kind === 'video'),
  );
  const cursor = tracks.map((t) => {
    let i = 0;
    while (i < t.count && t.skip?.[i]) i++;
    return i;
  });
  const audioCued = tracks.map(() => -1);
  let blocks = 0;
  let clusterStart = 0;
  let clusterMax = 0;
  let end = 0;
  for (;;) {
    let best = -1;
    let bestTime = Infinity;
    for (let k = 0; k < tracks.length; k++) {
      const i = cursor[k]!;
      const t = tracks[k]!;
      if (i < t.count && t.timestamps[i]! < bestTime) {
        best = k;
        bestTime = t.timestamps[i]!;
      }
    }
    if (best < 0) break;
    const t = tracks[best]!;
    const i = cursor[best]!;
    let next = i + 1;
    while (next < t.count && t.skip?.[next]) next++;
    cursor[best] = next;
    const ms = Math.round(1000 * bestTime);
    const key = t.keys[i] === 1;
    const clusters = clusterFirst.length;
    const relativeMs = ms - clusterStart;
    if (
      clusters === 0 ||
      (best === primary && key && ms > clusterMax && relativeMs >= MIN_CLUSTER_MS) ||
      relativeMs > MAX_CLUSTER_SPAN_MS
    ) {
      clusterStart = Math.max(0, ms);
      clusterMax = clusterStart;
      clusterFirst.push(blocks);
      clusterTime.push(clusterStart);
      clusterBodySize.push(1 + 1 + uintLength(clusterStart));
    }
    const c = clusterFirst.length - 1;
    const relative = ms - clusterStart;
    if (relative < -32_768) continue; // too far back for its cluster: left out (as mediabunny does)
    const blockAt = clusterBodySize[c]!;
    clusterBodySize[c] = blockAt + simpleBlockLength(t.sizes[i]!);
    if ((t.kind === 'video' && key) || (t.kind === 'audio' && audioCued[best] !== c)) {
      audioCued[best] = c;
      cues.push({ time: Math.max(0, ms), track: best + 1, cluster: c, relative: blockAt });
    }
    clusterMax = Math.max(clusterMax, ms);
    end = Math.max(end, bestTime + t.durations[i]!);
    blockTracks[blocks] = best;
    blockPackets[blocks] = i;
    blockRelative[blocks] = relative;
    blocks++;
  }
  return {
    blockTracks: blockTracks.subarray(0, blocks),
    blockPackets: blockPackets.subarray(0, blocks),
    blockRelative: blockRelative.subarray(0, blocks),
    clusterFirst: Uint32Array.from(clusterFirst),
    clusterTime: Float64Array.from(clusterTime),
    clusterBodySize: Float64Array.from(clusterBodySize),
    cues,
    end,
  };
}

/** The Cues element: cues with the same time share a cue point; positions in 8 bytes. */
function cuesElement(cues: readonly Cue[], clusterAt: (cluster: number) => number): Uint8Array {
  const points: { time: number; cues: Cue[] }[] = [];
  for (const cue of cues) {
    const last = points[points.length - 1];
    if (last && last.time === cue.time) last.cues.push(cue);
    else points.push({ time: cue.time, cues: [cue] });
  }
  let cuesBody = 0;
  const pointBytes = points.map((p) => {
    const body = 1 + 1 + uintLength(p.time) + p.cues.length * CUE_TRACK_POSITIONS_BYTES;
    cuesBody += 1 + sizeLength(body) + body;
    return body;
  });
  if (points.length === 0) return new Uint8Array(0);
  const cuesOut = new Uint8Array(4 + sizeLength(cuesBody) + cuesBody);
  putUint(cuesOut, 0, ID.Cues, 4);
  let at = 4;
  const sl = sizeLength(cuesBody);
  putSize(cuesOut, at, cuesBody, sl);
  at += sl;
  for (const [n, p] of points.entries()) {
    const body = pointBytes[n]!;
    cuesOut[at++] = ID.CuePoint;
    const psl = sizeLength(body);
    putSize(cuesOut, at, body, psl);
    at += psl;
    const tl = uintLength(p.time);
    cuesOut[at++] = ID.CueTime;
    putSize(cuesOut, at++, tl, 1);
    putUint(cuesOut, at, p.time, tl);
    at += tl;
    for (const cue of p.cues) {
      cuesOut[at++] = ID.CueTrackPositions;
      putSize(cuesOut, at++, CUE_TRACK_POSITIONS_BYTES - 2, 1);
      cuesOut[at++] = ID.CueTrack;
      putSize(cuesOut, at++, 1, 1);
      cuesOut[at++] = cue.track;
      cuesOut[at++] = ID.CueClusterPosition;
      putSize(cuesOut, at++, 8, 1);
      putUint(cuesOut, at, clusterAt(cue.cluster), 8);
      at += 8;
      cuesOut[at++] = ID.CueRelativePosition;
      putSize(cuesOut, at++, 8, 1);
      putUint(cuesOut, at, cue.relative, 8);
      at += 8;
    }
  }
  return cuesOut;
}

/**
 * Lays out the WebM of `tracks` (at most 126; timestamps ≥ 0, in seconds on the recording's clock): the blocks
 * (see {@link layOut}), and the header with the final sizes, Duration, SeekHead and Cues.
 */
export function planWebm(tracks: readonly WriterTrack[]): WebmPlan {
  if (tracks.length > 126) throw new RangeError('too many tracks');
  const { cues, end, ...blocks } = layOut(tracks);
  // The Cues' size does not depend on the positions in them (8 bytes each).
  const cuesBytes = cuesElement(cues, () => 0).length;
  const ebml = master(ID.EBML, [
    uint(ID.EBMLVersion, 1),
    uint(ID.EBMLReadVersion, 1),
    uint(ID.EBMLMaxIDLength, 4),
    uint(ID.EBMLMaxSizeLength, 8),
    text(ID.DocType, 'webm'),
    uint(ID.DocTypeVersion, 4),
    uint(ID.DocTypeReadVersion, 2),
  ]);
  const endMs = Math.round(end * 1000);
  const info = master(ID.Info, [
    uint(ID.TimestampScale, 1_000_000),
    text(ID.MuxingApp, APP),
    text(ID.WritingApp, APP),
    float64(ID.Duration, endMs),
  ]);
  const tracksElement = master(
    ID.Tracks,
    tracks.map((t, k) => trackEntry(t, k + 1)),
  );
  const seek = (id: number, position: number): Uint8Array => {
    const idBytes = new Uint8Array(4);
    putUint(idBytes, 0, id, 4);
    return master(ID.Seek, [element(ID.SeekID, idBytes), uint(ID.SeekPosition, position, 8)]);
  };
  // The SeekHead's size does not depend on the positions (8 bytes each).
  const seekHeadBytes = master(ID.SeekHead, [seek(ID.Info, 0), seek(ID.Tracks, 0), seek(ID.Cues, 0)]).length;
  const infoAt = seekHeadBytes;
  const tracksAt = infoAt + info.length;
  const cuesAt = tracksAt + tracksElement.length;
  const clustersAt = cuesAt + cuesBytes;
  const clusterAt: number[] = [];
  let segmentBody = clustersAt;
  for (const body of blocks.clusterBodySize) {
    clusterAt.push(segmentBody);
    segmentBody += 4 + 8 + body;
  }
  const seekHead = master(ID.SeekHead, [
    seek(ID.Info, infoAt),
    seek(ID.Tracks, tracksAt),
    ...(cuesBytes > 0 ? [seek(ID.Cues, cuesAt)] : []),
  ]);
  const parts: Uint8Array[] = [ebml, new Uint8Array(12), seekHead];
  if (cuesBytes === 0) {
    // No Cues entry: a Void element keeps the computed offsets.
    const gap = seekHeadBytes - seekHead.length;
    parts.push(element(0xec, new Uint8Array(gap - 2), 1));
  }
  parts.push(info, tracksElement);
  if (cuesBytes > 0) parts.push(cuesElement(cues, (c) => clusterAt[c]!));
  const header = concat(parts);
  // The Segment's id and size (8 bytes).
  putUint(header, ebml.length, ID.Segment, 4);
  putSize(header, ebml.length + 4, segmentBody, 8);
  return {
    header,
    size: ebml.length + 12 + segmentBody,
    durationSeconds: end,
    ...blocks,
  };
}

/** Supplies packet bytes: synchronously when at hand, else after a read. */
export interface PacketBytes {
  /** Packet `i` of track `k`, or undefined when it must be read first with {@link load}. */
  peek(k: number, i: number): Uint8Array | undefined;
  load(k: number, i: number): Promise<Uint8Array>;
}

/**
 * The bytes of the WebM `plan` lays out, in order, in pieces of `pieceBytes` (the last one shorter). Each piece
 * is lent: valid until the next one is pulled (the same buffer is reused; copy what you keep). `onBlocks`
 * gets the number of blocks written so far, once per cluster.
 */
export async function* writeWebm(
  plan: WebmPlan,
  tracks: readonly WriterTrack[],
  bytes: PacketBytes,
  options: { pieceBytes?: number; onBlocks?: (written: number) => void } = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const out = new Uint8Array(Math.min(options.pieceBytes ?? 1024 * 1024, plan.size));
  let at = 0;
  const flush = (): Uint8Array => {
    const full = at === out.length ? out : out.subarray(0, at);
    at = 0;
    return full;
  };
  /** Copies `data` into the pieces; yields each one filled. */
  const put = function* (data: Uint8Array): Generator<Uint8Array, void, undefined> {
    let from = 0;
    while (from < data.length) {
      if (at === out.length) yield flush();
      const n = Math.min(data.length - from, out.length - at);
      out.set(n === data.length ? data : data.subarray(from, from + n), at);
      at += n;
      from += n;
    }
  };
  yield* put(plan.header);
  const head = new Uint8Array(4 + 8 + 2 + 8 + 1 + 8 + 4);
  const clusters = plan.clusterFirst.length;
  const blocks = plan.blockTracks.length;
  for (let c = 0; c < clusters; c++) {
    // Cluster id, 8-byte size, Timestamp.
    putUint(head, 0, ID.Cluster, 4);
    putSize(head, 4, plan.clusterBodySize[c]!, 8);
    const time = plan.clusterTime[c]!;
    const tl = uintLength(time);
    head[12] = ID.Timestamp;
    putSize(head, 13, tl, 1);
    putUint(head, 14, time, tl);
    yield* put(head.subarray(0, 14 + tl));
    const last = c + 1 < clusters ? plan.clusterFirst[c + 1]! : blocks;
    for (let b = plan.clusterFirst[c]!; b < last; b++) {
      const k = plan.blockTracks[b]!;
      const i = plan.blockPackets[b]!;
      const t = tracks[k]!;
      const data = bytes.peek(k, i) ?? (await bytes.load(k, i));
      const size = data.length + 4;
      const sl = sizeLength(size);
      head[0] = ID.SimpleBlock;
      putSize(head, 1, size, sl);
      let h = 1 + sl;
      head[h++] = 0x80 | (k + 1);
      const rel = plan.blockRelative[b]!;
      head[h++] = (rel >> 8) & 0xff;
      head[h++] = rel & 0xff;
      head[h++] = t.keys[i] === 1 ? 0x80 : 0;
      if (out.length - at >= h + data.length) {
        // The common case: header and data fit in the current piece.
        out.set(head.subarray(0, h), at);
        out.set(data, at + h);
        at += h + data.length;
      } else {
        yield* put(head.subarray(0, h));
        yield* put(data);
      }
    }
    options.onBlocks?.(last);
  }
  if (at > 0) yield flush();
}
