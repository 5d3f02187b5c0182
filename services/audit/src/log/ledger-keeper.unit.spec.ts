import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryEventStore, newEvent } from '@haven/eventstore';
import { createLogger } from '@haven/service';
import { AuditLog } from './audit-log';
import { Ledger } from './ledger';
import { LEDGER_STREAM, LedgerKeeper, TREE_HEAD_SIGNED } from './ledger-keeper';

describe('the ledger keeper', () => {
  let dir: string;
  const keepers: LedgerKeeper[] = [];
  const logs: AuditLog[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'haven-keeper-'));
  });
  afterEach(async () => {
    await Promise.all(keepers.splice(0).map((k) => k.stop()));
    await Promise.all(logs.splice(0).map((l) => l.close()));
    await rm(dir, { recursive: true, force: true });
  });

  async function given(visits: number) {
    const store = new InMemoryEventStore();
    for (let i = 0; i < visits; i++) {
      await store.append(`session.visit-${i}`, 'no_stream', [
        newEvent({
          type: 'haven.session.v1.VisitOpened',
          data: { visitId: `v-${i}` },
          actor: { kind: 'user', id: 'u' },
        }),
      ]);
    }
    const log = await AuditLog.open(join(dir, 'audit-log.ndjson'));
    logs.push(log);
    const ledger = await Ledger.open({
      records: log.all(),
      keyPath: join(dir, 'key.pem'),
      headsPath: join(dir, 'heads.ndjson'),
    });
    const ingest = async (): Promise<void> => {
      const streams = [...Array.from({ length: visits }, (_, i) => `session.visit-${i}`), LEDGER_STREAM];
      const events = (await Promise.all(streams.map((s) => store.read(s)))).flat();
      for (const event of events.sort((a, b) => Number(a.position - b.position))) {
        const record = await log.ingest(event);
        if (record) ledger.append(record);
      }
    };
    await ingest();
    const logger = createLogger({ service: 'audit', level: 'silent' });
    const keeper = await LedgerKeeper.start({ log, ledger, store, logger }, { anchorIntervalMs: 3_600_000 });
    keepers.push(keeper);
    return { store, log, ledger, keeper, ingest };
  }

  it("anchors entries that an auditor's head request signed first (a signed head is not an anchor)", async () => {
    const { store, ledger, keeper } = await given(3);
    // An auditor asks for the current head before the anchor timer fires.
    await ledger.head(ledger.size);
    expect(await keeper.anchor()).toBe(3);
    const anchors = (await store.read(LEDGER_STREAM)).filter((e) => e.type === TREE_HEAD_SIGNED);
    expect(anchors.map((a) => (a.data as { treeSize: number }).treeSize)).toEqual([3]);
  });

  it('anchors nothing twice: only anchors arrived since the last anchor', async () => {
    const { keeper, ingest } = await given(2);
    expect(await keeper.anchor()).toBe(2);
    await ingest(); // the anchor itself comes back through the store
    expect(await keeper.anchor()).toBeUndefined();
  });
});
