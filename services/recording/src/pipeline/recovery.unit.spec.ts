import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryEventStore } from '@haven/eventstore';
import { createLogger } from '@haven/service';
import { RecordingProjection } from '../recording/projection';
import { Recordings } from '../recording/recordings';
import { givenProcessing } from '../testing';
import { FsObjectStore } from './object-store';
import { RecordingPipeline, WORK_FOLDER } from './pipeline';

const base = mkdtempSync(join(tmpdir(), 'haven-recovery-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** A recording PROCESSING, taken by `processor` (none: unclaimed). */
const processing = (recordings: Recordings, id: string, processor: string | undefined): Promise<void> =>
  givenProcessing(recordings, id, {
    visitId: 'v',
    clinicianId: 'c',
    patientId: 'p',
    startTime: '2026-12-06T10:00:00.000Z',
    stopTime: '2026-12-06T10:10:00.000Z',
    ...(processor !== undefined ? { processor } : {}),
  });

describe('recovering interrupted processing', () => {
  it('takes its own and unclaimed recordings at once, another replica’s only once it went quiet', async () => {
    const store = new InMemoryEventStore();
    const recordings = new Recordings(store);
    for (const [id, processor] of [
      ['mine', 'pod-a'],
      ['unclaimed', undefined],
      ['theirs', 'pod-b'],
    ] as const) {
      await processing(recordings, id, processor);
    }
    const projection = new RecordingProjection();
    await projection.start(store);
    await projection.caughtUp(5_000);
    let now = Date.now();
    const pipeline = new RecordingPipeline({
      recordings,
      projection,
      objects: new FsObjectStore(join(base, 'objects')),
      recordingsDir: join(base, 'recordings'),
      kmsFor: () => {
        throw new Error('not used: no raw files');
      },
      logger: createLogger({ service: 'test', level: 'silent' }),
      processor: 'pod-a',
      staleAfterMs: 60_000,
      clock: () => new Date(now),
    });
    // A kill -9 between the conversion and the end of the encryption (the WebM is written from the converted
    // tracks into it) leaves a converted track in the work folder.
    const work = join(base, 'recordings', WORK_FOLDER, 'mine');
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, 'videoroom-1-user-2-3-video-1.webm'), Buffer.from([0x1a, 0x45, 0xdf, 0xa3]));
    await pipeline.recover();
    expect(existsSync(work)).toBe(false);
    const mine = (await store.read('recording.recording-mine')).find((e) =>
      e.type.endsWith('RecordingProcessingRecovered'),
    );
    expect(mine?.data).toMatchObject({ action: 'discarded', intermediatesRemoved: 1 });
    const status = async (id: string) => (await recordings.load(id)).state;
    expect((await status('mine')).status).toBe('failed'); // no raw files: discarded
    expect((await status('unclaimed')).status).toBe('failed');
    expect((await status('theirs')).status).toBe('processing');

    now += 61_000;
    await projection.caughtUp(5_000);
    await pipeline.recover();
    const theirs = await status('theirs');
    expect(theirs.status === 'failed' && theirs.reason).toBe('RAW_FILES_LOST');
    const recovered = (await store.read('recording.recording-theirs')).find((e) =>
      e.type.endsWith('RecordingProcessingRecovered'),
    );
    expect(recovered?.data).toMatchObject({ action: 'discarded', processor: 'pod-a' });
    await projection.close();
    await pipeline.close();
  });
});
