/**
 * Reading a recording's raw folder: an empty `.mjr` (Janus opened the track's file but no packet came before the
 * stop) is no media and is skipped; a file that is not a Janus recording still fails the conversion.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
