/**
 * Test helper: reads every event in the JetStream event store (stream HAVEN_ES) with a plain nats.js consumer,
 * not through Haven's adapter, so a check of what is stored does not trust the code under test.
 *
 *   const events = await readEventLog(nc);
 *   events.filter((e) => e.type === 'haven.scheduling.v1.PatientRegistered')
 */
import type { NatsConnection } from 'nats';

/** One stored event as the bytes say: the JSON envelope plus the JetStream sequence and subject. */
export interface LoggedEvent {
  readonly seq: number;
  readonly subject: string;
  readonly id: string;
  readonly type: string;
  readonly stream: string;
  readonly revision: string;
  readonly occurredAt: string;
  readonly actor: { readonly kind: string; readonly id: string; readonly role?: string };
  readonly correlationId: string;
  readonly causationId: string;
  readonly data: Record<string, unknown>;
  readonly request?: { readonly id: string; readonly fingerprint: string };
  readonly phi?: { readonly subject: string };
}

const STREAM = 'HAVEN_ES';

/**
 * Every event of HAVEN_ES (optionally only subjects under `filter`, e.g. `haven.es.scheduling.>`), oldest
 * first. Returns [] when the stream does not exist. Throws when the read takes longer than `timeoutMs`
 * (default 30 s).
 */
export async function readEventLog(
  nc: NatsConnection,
  options: { filter?: string; timeoutMs?: number } = {},
): Promise<LoggedEvent[]> {
  const jsm = await nc.jetstreamManager();
  let last: number;
  try {
    last = (await jsm.streams.info(STREAM)).state.last_seq;
  } catch {
    return [];
  }
  if (last === 0) return [];
  // (No deliver_policy `all`: nats.js then sends opt_start_seq, which nats-server 2.9 rejects; the default
  // start is the first message anyway.)
  const consumer = await nc
    .jetstream()
    .consumers.get(STREAM, options.filter ? { filterSubjects: options.filter } : {});
  const out: LoggedEvent[] = [];
  const timeoutMs = options.timeoutMs ?? 30_000;
  const until = Date.now() + timeoutMs;
  // The consumer knows how many messages it has to deliver: fetch exactly those, in batches.
  let remaining = (await consumer.info()).num_pending;
  while (remaining > 0 && Date.now() < until) {
    const batch = await consumer.fetch({ max_messages: Math.min(500, remaining), expires: 5_000 });
    let got = 0;
    for await (const m of batch) {
      got += 1;
      const body = JSON.parse(new TextDecoder().decode(m.data)) as Omit<LoggedEvent, 'seq' | 'subject'>;
      out.push({ ...body, seq: m.seq, subject: m.subject });
    }
    if (got === 0) break;
    remaining -= got;
  }
  if (remaining <= 0) return out;
  throw new Error(`reading ${STREAM} took longer than ${timeoutMs} ms`);
}
