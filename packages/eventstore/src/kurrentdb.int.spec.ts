import { execFileSync } from 'node:child_process';
import { KurrentDbEventStore } from './kurrentdb';
import { testEventStore } from './testing';

jest.setTimeout(120_000);

const IMAGE = 'docker.kurrent.io/kurrent-latest/kurrentdb:25.0';

function dockerAnswers(): boolean {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

const url = process.env['KURRENTDB_URL'];
if (url) {
  testEventStore('kurrentdb (KURRENTDB_URL)', async () => {
    const store = await KurrentDbEventStore.connect({ connectionString: url });
    return { store, teardown: () => store.close() };
  });
} else if (dockerAnswers()) {
  testEventStore('kurrentdb (testcontainers)', async () => {
    // Loaded only here: testcontainers 12 pulls undici 8, which needs Node ≥ 22 to even load.
    const { KurrentDbContainer } = await import('@testcontainers/kurrentdb');
    const container = await new KurrentDbContainer(IMAGE).start();
    const store = await KurrentDbEventStore.connect({ connectionString: container.getConnectionString() });
    return {
      store,
      teardown: async () => {
        await store.close();
        await container.stop();
      },
    };
  });
} else {
  describe('EventStore contract: kurrentdb', () => {
    it.skip('skipped: set KURRENTDB_URL or provide a Docker engine', () => undefined);
  });
}
