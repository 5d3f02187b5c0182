/**
 * Reading a recording's raw folder: an empty `.mjr` (Janus opened the track's file but no packet came before the
 * stop) is no media and is skipped, and so is one that still holds only the magic after the wait (no packet
 * came); a header Janus is still writing when the stop is processed is waited for; a file that is not a Janus
 * recording, or whose header JSON stays cut short, still fails the conversion.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConversionError, listRawTracks } from './janus-pp-rec';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'haven-raw-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('skips an empty track file: the device recorded nothing before the stop', async () => {
  writeFileSync(join(dir, 'videoroom-1-user-2-video-0.mjr'), '');
  await expect(listRawTracks(dir)).resolves.toEqual([]);
});

it('refuses a file that is not a Janus recording', async () => {
  writeFileSync(join(dir, 'videoroom-1-user-2-audio-0.mjr'), 'not a recording at all');
  await expect(listRawTracks(dir)).rejects.toBeInstanceOf(ConversionError);
});

/** A `.mjr` header: magic, u16 length, JSON (what Janus writes with the first packet). */
function header(json: object): Buffer {
  const text = Buffer.from(JSON.stringify(json));
  const length = Buffer.alloc(2);
  length.writeUInt16BE(text.length);
  return Buffer.concat([Buffer.from('MJR00002'), length, text]);
}

it('waits for a header Janus is still writing at the stop, then reads it', async () => {
  // Seen under load: the stop is processed while Janus has written only part of a track's header.
  const full = header({ t: 'v', c: 'vp8', s: 1_700_000_000_000_000, u: 1_700_000_000_100_000 });
  const path = join(dir, 'videoroom-1-user-2-3-video-1.mjr');
  writeFileSync(path, full.subarray(0, 14));
  setTimeout(() => appendFileSync(path, full.subarray(14)), 300);
  await expect(listRawTracks(dir)).resolves.toMatchObject([
    { kind: 'video', codec: 'vp8', feed: '2', firstPacketMicros: 1_700_000_000_100_000 },
  ]);
});

it('fails a header whose JSON stays cut short', async () => {
  const full = header({ t: 'a', c: 'opus', s: 1, u: 2 });
  writeFileSync(join(dir, 'videoroom-1-user-2-3-audio-0.mjr'), full.subarray(0, 14));
  await expect(listRawTracks(dir, { settleMs: 400 })).rejects.toBeInstanceOf(ConversionError);
});

it('skips a track that never got its first packet (only the magic, still so after the wait)', async () => {
  // Janus writes `MJR00002` when it opens a track's file and the rest of the header with the first packet: a
  // track that sent nothing before the stop stays at these 8 bytes. Seen in CI: it failed the whole recording.
  const good = header({ t: 'v', c: 'vp8', s: 1_700_000_000_000_000, u: 1_700_000_000_100_000 });
  writeFileSync(join(dir, 'videoroom-1-user-2-3-video-1.mjr'), good);
  writeFileSync(join(dir, 'videoroom-1-user-4-5-video-1.mjr'), 'MJR00002');
  writeFileSync(join(dir, 'videoroom-1-user-4-5-audio-0.mjr'), 'MJR00');
  await expect(listRawTracks(dir, { settleMs: 400 })).resolves.toMatchObject([
    { kind: 'video', codec: 'vp8', feed: '2' },
  ]);
});
