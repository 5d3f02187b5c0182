/**
 * The JetStream side of {@link StoreInspection}: what HAVEN_ES says about itself (stream info: first and last
 * sequence, count, deleted and lost sequences, creation time, configuration) and its messages read back by
 * sequence through an ordered consumer. Read-only: stream info and an ephemeral ordered consumer are all it
 * needs, which every service user may do.
 */
import { DeliverPolicy, type JetStreamManager, type NatsConnection, type StreamInfo } from 'nats';
import { UnavailableError } from '@haven/errors';
import { decodeEnvelope } from './codec';
import { readWithin } from './ordered-read';
import { isStreamNotFound, streamDeviations, type HavenStreamSpec } from './nats-streams';
import type { StoreInspection, StoreStatus, StoredEvent, StoredRange } from './port';

const READ_TIMEOUT_MS = 15_000;
/**
 * Bound on one stream-info request. A request sent just as the server went away is never answered; a short
 * bound lets the next check (a second later) ask the restarted server instead of waiting the client's default.
 */
const STATUS_TIMEOUT_MS = 2_000;
/** Above this many deleted sequences the status leaves them to a full read instead of listing them. */
const MAX_DELETED_DETAILS = 100_000;

function unavailable(what: string, err: unknown): UnavailableError {
  return new UnavailableError(
    `event store inspection: ${what}: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  );
}

/**
 * {@link StoreInspection} of a JetStream stream (HAVEN_ES): its deviations are the settings its spec requires
 * (nats-streams.ts, the one list the operator provisions and services verify) that it no longer has.
 */
export class JetStreamInspection implements StoreInspection {
  private jsm: Promise<JetStreamManager> | undefined;
  private readonly stream: string;

  constructor(
    private readonly nc: NatsConnection,
    private readonly spec: HavenStreamSpec,
  ) {
    this.stream = spec.name;
  }

  private async info(deletedDetails: boolean): Promise<StreamInfo | undefined> {
    try {
      // No account check per call (one more round trip): stream info is all it needs.
      this.jsm ??= this.nc.jetstreamManager({ checkAPI: false, timeout: STATUS_TIMEOUT_MS });
      const jsm = await this.jsm;
      return await jsm.streams.info(this.stream, deletedDetails ? { deleted_details: true } : undefined);
    } catch (err) {
      if (isStreamNotFound(err)) return undefined;
      throw unavailable('stream info', err);
    }
  }

  /** See the port. Throws UnavailableError when NATS cannot be asked. */
  async status(): Promise<StoreStatus> {
    let info = await this.info(false);
    const epoch = this.nc.info?.server_id;
    if (!info) {
      return {
        exists: false,
        ...(epoch ? { epoch } : {}),
        lastPosition: 0n,
        missingPositions: [],
        deviations: [],
      };
    }
    const deleted = info.state.num_deleted ?? 0;
    if (deleted > 0 && deleted <= MAX_DELETED_DETAILS) info = (await this.info(true)) ?? info;
    const { state } = info;
    const missing = new Set<number>([...(state.deleted ?? []), ...(state.lost?.msgs ?? [])]);
    return {
      exists: true,
      identity: info.created,
      ...(epoch ? { epoch } : {}),
      ...(state.messages > 0 ? { firstPosition: BigInt(state.first_seq) } : {}),
      lastPosition: BigInt(state.last_seq),
      count: BigInt(state.messages),
      missingPositions: [...missing].sort((a, b) => a - b).map((s) => BigInt(s)),
      deviations: streamDeviations(this.spec, info),
    };
  }

  /** See the port. Throws UnavailableError when NATS fails or the read takes longer than 15 s. */
  async readFrom(position: bigint, limit: number): Promise<StoredRange> {
    const info = await this.info(false);
    const last = info?.state.last_seq ?? 0;
    const start = position < 1n ? 1 : Number(position);
    if (!info || limit <= 0 || start > last || info.state.messages === 0) return { items: [], end: true };
    const items: StoredEvent[] = [];
    let end = false;
    let timedOut: boolean;
    try {
      const consumer = await this.nc.jetstream().consumers.get(this.stream, {
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: start,
      });
      const batch = Math.min(limit, 1024);
      timedOut = await readWithin(consumer, { batch, timeoutMs: READ_TIMEOUT_MS }, (m) => {
        items.push(readable(BigInt(m.seq), m.data));
        if (m.info.pending === 0 || m.seq >= last) {
          end = m.info.pending === 0;
          return false;
        }
        return items.length < limit;
      });
    } catch (err) {
      throw unavailable('read', err);
    }
    if (timedOut) throw new UnavailableError(`event store inspection: reading from ${position} timed out`);
    return { items, end };
  }
}

function readable(position: bigint, data: Uint8Array): StoredEvent {
  try {
    return { position, event: decodeEnvelope(data) };
  } catch (err) {
    return { position, unreadable: err instanceof Error ? err.message : 'undecodable' };
  }
}
