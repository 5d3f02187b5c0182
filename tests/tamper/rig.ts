/**
 * The tamper rig: a real nats-server, the real audit service as a built child process, and the means of an
 * operator's worst day — a plain NATS connection with the JetStream API, the JetStream block files on disk,
 * the audit files on disk. Each case gets its own rig (tampering is destructive).
 *
 * What the tests observe is what an operator would: the events the audit service appends to the event store
 * (`audit.ledger-main`: StoreIntegrityViolated, LedgerIntegrityViolated, AuditLogRepaired) and its JSON log.
 *
 * The long form (`npm run soak -- tamper`, tamper.soak.ts) uses the same rig over many more events.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type JetStreamManager, type NatsConnection, type StreamConfig } from 'nats';
import {
  HavenStream,
  JetStreamEventStore,
  havenStreamSpec,
  newEvent,
  provisionHavenStreams,
  type EventEnvelope,
} from '@haven/eventstore';
import { createTestIssuer, type TestIssuer } from '@haven/service/testing';
import {
  eventually,
  freePort,
  type JwksServer,
  type NatsServerHandle,
  serveJwks,
  type ServiceProcess,
  startNatsServer,
  startServiceProcess,
} from '@haven/testing';

/** How long an operator's JetStream API request may take (see `Rig.jsm`). */
const OPERATOR_API_TIMEOUT_MS = 30_000;

/** Events each short case stores before it tampers. */
export const EVENTS = 60;

/** The audit service's stream of anchors and alarms, and the types a test waits for. */
export const LEDGER_STREAM = 'audit.ledger-main';
export const STORE_INTEGRITY_VIOLATED = 'haven.audit.v1.StoreIntegrityViolated';
export const LEDGER_INTEGRITY_VIOLATED = 'haven.audit.v1.LedgerIntegrityViolated';
export const AUDIT_LOG_REPAIRED = 'haven.audit.v1.AuditLogRepaired';

/** The data of an integrity event, as the tests read it. */
export interface AlarmData {
  readonly reason: string;
  readonly firstBadIndex?: number;
  readonly firstBadEventId?: string;
  readonly firstBadPosition?: string;
  readonly count?: number;
  readonly detail?: string;
  readonly treeSize?: number;
  readonly atIndex?: number;
}

/** The HAVEN_ES configuration the operator provisions (nats-streams.ts), with `over` changed by hand. */
export function eventStoreConfig(over: Partial<StreamConfig> = {}): Partial<StreamConfig> & { name: string } {
  return { ...havenStreamSpec(HavenStream.EventStore).config(), ...over };
}

export interface Rig {
  readonly nats: NatsServerHandle;
  /** A plain NATS connection with the JetStream API: the operator's hands. */
  readonly nc: NatsConnection;
  /**
   * The JetStream API on that connection, each request given 30 s: on a loaded machine (CI's two cores, every
   * suite writing) nats-server can take longer than the client's default 5 s to create a stream's files, and
   * the operator's edit is not what the case measures.
   */
  readonly jsm: JetStreamManager;
  /** The event store, for appending and reading events as any service would. */
  readonly store: JetStreamEventStore;
  readonly dataDir: string;
  /** Signs tokens the audit service accepts (its JWKS is served by the rig). */
  readonly issuer: TestIssuer;
  /** The events the rig stored, in order, with their store positions. */
  readonly ids: string[];
  readonly positions: bigint[];
  audit: ServiceProcess | undefined;
  /** Starts (or restarts) the audit service on the rig's data directory. */
  startAudit(extraEnv?: Record<string, string>): Promise<ServiceProcess>;
  stopAudit(): Promise<void>;
  /** Appends `count` visit events (each its own stream) and remembers ids and positions. */
  append(count: number): Promise<void>;
  /** Waits until the audit log on disk holds at least `n` entries. */
  ingested(n: number): Promise<void>;
  /** The path of the audit log file. */
  readonly logPath: string;
  /** Integrity events of `type` the audit service appended so far (none while the store is gone). */
  alarms(type: string): Promise<(EventEnvelope & { data: AlarmData })[]>;
  /** Waits (bounded) for an event of `type` matching `match`; returns it. */
  alarm(
    type: string,
    match: (data: AlarmData) => boolean,
    within?: number,
  ): Promise<EventEnvelope & { data: AlarmData }>;
  /** The JetStream block files of HAVEN_ES, oldest first. */
  blockFiles(): string[];
  close(): Promise<void>;
}

/**
 * Starts a rig: nats-server, an operator connection, HAVEN_ES provisioned (with `stream` overrides, e.g. a
 * misprovisioned store), `events` events stored, and the audit service started and caught up.
 */
export async function startRig(
  options: { events?: number; stream?: Partial<StreamConfig>; auditEnv?: Record<string, string> } = {},
): Promise<Rig> {
  // The operator provisions HAVEN_ES by hand (as the case wants it) and the other streams as usual.
  const nats = await startNatsServer({ provision: false });
  const nc = await connect({ ...nats.operator, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const jsm = await nc.jetstreamManager({ timeout: OPERATOR_API_TIMEOUT_MS });
  await jsm.streams.add(eventStoreConfig(options.stream));
  await provisionHavenStreams(nc, {
    streams: [HavenStream.Bus, HavenStream.Checkpoints, HavenStream.Revocations],
  });
  const store = await JetStreamEventStore.connect({ ...nats.client('session'), name: 'tamper-rig' });
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-tamper-'));
  const issuer = createTestIssuer();
  const jwks: JwksServer = await serveJwks(issuer.jwks);
  const logPath = join(dataDir, 'audit-log.ndjson');
  const ids: string[] = [];
  const positions: bigint[] = [];
  let serial = 0;
  const rig: Rig = {
    nats,
    nc,
    jsm,
    store,
    dataDir,
    issuer,
    ids,
    positions,
    logPath,
    audit: undefined,
    async startAudit(extraEnv = {}) {
      const port = await freePort();
      rig.audit = await startServiceProcess('audit', port, {
        ...nats.env('audit'),
        HAVEN_DATA_DIR: dataDir,
        HAVEN_JWKS_URL: jwks.url,
        ...options.auditEnv,
        ...extraEnv,
      });
      return rig.audit;
    },
    async stopAudit() {
      await rig.audit?.stop();
      rig.audit = undefined;
    },
    async append(count) {
      for (let k = 0; k < count; k++) {
        const n = serial++;
        const e = newEvent({
          type: 'haven.session.v1.VisitOpened',
          data: { visitId: `v-${n}`, room: `room-${n}` },
          actor: { kind: 'user', id: 'u-clin', role: 'clinician' },
        });
        const r = await store.append(`session.visit-v${n}`, 'no_stream', [e]);
        ids.push(e.id);
        positions.push(r.position);
      }
    },
    async ingested(n) {
      await eventually(
        `${n} audit entries on disk`,
        async () => (entriesOnDisk(logPath) >= n ? true : undefined),
        { timeoutMs: 60_000, intervalMs: 100 },
      );
    },
    async alarms(type) {
      const events = await store.read(LEDGER_STREAM).catch(() => []);
      return events.filter((e) => e.type === type) as unknown as (EventEnvelope & { data: AlarmData })[];
    },
    async alarm(type, match, within = 20_000) {
      return await eventually(
        `${type} matching ${match.toString()}`,
        async () => (await rig.alarms(type)).find((e) => match(e.data)),
        { timeoutMs: within, intervalMs: 100 },
      );
    },
    blockFiles() {
      return blockFilesOf(nats.storeDir);
    },
    async close() {
      await rig.stopAudit();
      await store.close();
      await nc.close();
      await jwks.close();
      await nats.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  await rig.append(options.events ?? EVENTS);
  await rig.startAudit();
  await rig.ingested(ids.length);
  return rig;
}

/** Complete lines in the audit log file. */
export function entriesOnDisk(path: string): number {
  try {
    const text = readFileSync(path, 'utf8');
    return text.split('\n').length - 1;
  } catch {
    return 0;
  }
}

/** The block files of HAVEN_ES under a nats-server store directory, in sequence order. */
export function blockFilesOf(storeDir: string): string[] {
  const root = join(storeDir, 'jetstream');
  for (const account of readdirSync(root)) {
    const msgs = join(root, account, 'streams', 'HAVEN_ES', 'msgs');
    try {
      if (!statSync(msgs).isDirectory()) continue;
    } catch {
      continue;
    }
    return readdirSync(msgs)
      .filter((f) => f.endsWith('.blk'))
      .sort((a, b) => parseInt(a, 10) - parseInt(b, 10))
      .map((f) => join(msgs, f));
  }
  throw new Error(`no HAVEN_ES block files under ${root}`);
}

/** Where `marker` is in the block files: the file and the byte offset. */
export function findInBlocks(files: readonly string[], marker: string): { file: string; offset: number } {
  for (const file of files) {
    const offset = readFileSync(file).indexOf(marker);
    if (offset >= 0) return { file, offset };
  }
  throw new Error(`${marker} is in no block file`);
}

/** The visit marker of the `n`-th event the rig stored, as it appears in the stored JSON. */
export const markerOf = (n: number): string => `"visitId":"v-${n}"`;

/** Milliseconds from `t0` to when the audit service created `event`. */
export const latencyOf = (event: EventEnvelope, t0: number): number => Date.parse(event.occurredAt) - t0;

/** One line per measurement, collected for the summary the suite prints. */
export const measured: string[] = [];

/**
 * Registers a tamper spec's hooks: each test's rig closed after it, the measurements printed after all. Returns
 * the start of a test's rig (`startRig` with the same options), kept to close after that test.
 */
export function rigPerTest(): (options?: Parameters<typeof startRig>[0]) => Promise<Rig> {
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });
  afterAll(() => {
    if (measured.length > 0) console.log(`tamper (${EVENTS} events per case):\n  ${measured.join('\n  ')}`);
  });
  return async (options) => {
    rig = await startRig(options);
    return rig;
  };
}
