/**
 * "No view recorded, no byte sent": when appending RecordingViewed fails, ReadRecordingMedia sends nothing —
 * not even the range header. The recordings live in the in-memory event store; only the views' append fails.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata } from '@grpc/grpc-js';
import { FilePatientKeyStore, LocalKeyringKms } from '@haven/crypto';
import { InMemoryEventStore } from '@haven/eventstore';
import { phiEvents, recording } from '@haven/proto';
import type { CallContext } from '@haven/service';
import { Recordings } from '../recording/recordings';
import { seedAvailableRecording } from '../testing';
import { playbackHandlers, playbackStreams, type PlaybackDeps } from './grpc';
import { RecordingKeys } from './keys';
import { FileMediaObjects } from './objects';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), 'haven-noview-'));
});
afterAll(async () => fs.rm(dir, { recursive: true, force: true }));

function ctxOf(method: string): CallContext {
  return {
    principal: { kind: 'user', id: 'clin-1', role: 'clinician', scopes: [] },
    metadata: new Metadata(),
    correlationId: 'c-1',
    traceparent: undefined,
    deadline: undefined,
    signal: new AbortController().signal,
    method,
    peer: 'test',
    recordRefusal: () => undefined,
  } as unknown as CallContext;
}

it('sends nothing when the view cannot be recorded, and everything when it can', async () => {
  const store = new InMemoryEventStore();
  const plaintext = randomBytes(100_000);
  await seedAvailableRecording({ store, dataDir: dir, recordingId: 'r1', clinicianId: 'clin-1', plaintext });
  const kms = await LocalKeyringKms.open({ file: join(dir, 'keyring.json') });
  const base = {
    recordings: new Recordings(store),
    objects: new FileMediaObjects(join(dir, 'objects')),
    keys: new RecordingKeys(kms, new FilePatientKeyStore({ dir: join(dir, 'recording-keys'), kms })),
    patientAccess: false,
    grantTtlMs: 60_000,
  };
  const deps = (append: PlaybackDeps['store']['append']): PlaybackDeps => ({ ...base, store: { append } });
  const { token } = await playbackHandlers(deps(store.append.bind(store))).playRecording(
    recording.PlayRecordingRequest.fromPartial({
      name: 'recordings/r1',
      purpose: phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_TREATMENT,
    }),
    ctxOf('/haven.recording.v1.RecordingService/PlayRecording'),
  );
  const request = recording.ReadRecordingMediaRequest.fromPartial({
    name: 'recordings/r1',
    grantToken: token,
    offset: '0',
    length: '5000',
  });
  const read = async (append: PlaybackDeps['store']['append']) => {
    const sent: recording.ReadRecordingMediaResponse[] = [];
    const result = playbackStreams(deps(append)).readRecordingMedia(
      request,
      ctxOf('/haven.recording.v1.RecordingService/ReadRecordingMedia'),
      async (m) => {
        sent.push(m);
      },
    );
    return { sent, result };
  };

  const failing = await read(() => Promise.reject(new Error('the event store is down')));
  await expect(failing.result).rejects.toMatchObject({ category: 'unavailable' });
  expect(failing.sent).toEqual([]);

  const working = await read(store.append.bind(store));
  await working.result;
  expect(Buffer.concat(working.sent.map((m) => m.data)).equals(plaintext.subarray(0, 5000))).toBe(true);
});
