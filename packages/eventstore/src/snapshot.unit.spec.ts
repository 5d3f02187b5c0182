import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSnapshotStore, InMemorySnapshotStore, type Snapshot } from './snapshot';

const snap = (revision: bigint, state: unknown = { n: Number(revision) }): Snapshot => ({
  version: 'v1',
  revision,
  position: revision + 100n,
  eventId: `e-${revision}`,
  state,
  requests: [{ id: 'k', fingerprint: 'f', fromRevision: 0n, toRevision: 0n, at: 1 }],
});

describe('InMemorySnapshotStore', () => {
  it('keeps the newest snapshot of a stream and evicts the least recently used', async () => {
    const store = new InMemorySnapshotStore(2);
    await store.save('a.x-1', snap(5n));
    await store.save('a.x-1', snap(3n)); // older: ignored
    expect((await store.load('a.x-1'))?.revision).toBe(5n);
    await store.save('a.x-2', snap(1n));
    await store.load('a.x-1');
    await store.save('a.x-3', snap(1n));
    expect(await store.load('a.x-2')).toBeUndefined();
    expect(await store.load('a.x-1')).toBeDefined();
  });
});

describe('FileSnapshotStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'haven-snapshots-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a stream every `writeEvery` revisions (0600) and a new instance reads it back', async () => {
    const first = new FileSnapshotStore({ dir: join(dir, 's'), writeEvery: 10 });
    await first.save('a.x-1', snap(1n));
    await first.save('a.x-1', snap(5n)); // not yet 10 past the written one
    await first.flush();
    const files = readdirSync(join(dir, 's'));
    expect(files).toHaveLength(1);
    expect(statSync(join(dir, 's', files[0]!)).mode & 0o777).toBe(0o600);
    expect((await new FileSnapshotStore({ dir: join(dir, 's') }).load('a.x-1'))?.revision).toBe(1n);
    await first.save('a.x-1', snap(11n));
    await first.flush();
    const second = new FileSnapshotStore({ dir: join(dir, 's') });
    expect(await second.load('a.x-1')).toEqual(snap(11n));
    expect(JSON.parse(readFileSync(join(dir, 's', files[0]!), 'utf8'))).toMatchObject({ stream: 'a.x-1' });
  });

  it('treats an unreadable or foreign file as no snapshot', async () => {
    const store = new FileSnapshotStore({ dir, writeEvery: 1 });
    await store.save('a.x-1', snap(1n));
    await store.flush();
    const file = join(dir, readdirSync(dir)[0]!);
    writeFileSync(file, '{"format":"haven.snapshot.v1","stream":"a.x-1","revi');
    expect(await new FileSnapshotStore({ dir }).load('a.x-1')).toBeUndefined();
    writeFileSync(
      file,
      JSON.stringify({ ...JSON.parse('{}'), format: 'haven.snapshot.v1', stream: 'a.x-2' }),
    );
    expect(await new FileSnapshotStore({ dir }).load('a.x-1')).toBeUndefined();
    expect(await new FileSnapshotStore({ dir }).load('a.x-9')).toBeUndefined();
  });
});
