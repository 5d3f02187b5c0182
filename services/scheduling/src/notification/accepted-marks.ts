/**
 * "The relay accepted this reminder's message" marks (ADR 0015): the outbox writes one the moment the relay
 * answers 250 — cheaper than the ReminderSent append, which it may then hold and write with others — and a sender
 * that takes over a reminder whose attempt it did not see end (an expired `sending` lease, a restart) asks for
 * the mark before sending again: a marked reminder is recorded as sent (recovered), never sent twice.
 *
 * The NATS adapter publishes the mark as a plain NATS message (no reply subject: nothing to wait for; the marks
 * of one event-loop turn leave in one socket write, before the turn's timers) on
 * `haven.accepted.scheduling.<reminderId>`, a subject of the JetStream stream HAVEN_ACCEPTED (one message per
 * subject, kept a day) that no follower reads; the subject and the empty payload hold ids only. A mark the server did not store (NATS down at that instant, the process killed before its
 * write left) only leaves that message with the window the outbox had without marks.
 */
import { NatsError, type JetStreamManager, type NatsConnection } from 'nats';
import {
  ACCEPTED_MARKS_STREAM,
  ACCEPTED_MARKS_SUBJECT_PREFIX,
  HavenStream,
  verifyHavenStreams,
} from '@haven/eventstore';
import type { Logger } from '@haven/service';

/** The port: write a mark at once, ask for one later. */
export interface AcceptedMarks {
  /**
   * Marks `reminderId` accepted by the relay, without waiting; false when it cannot (then the caller records
   * ReminderSent at once, as without marks).
   */
  mark(reminderId: string): boolean;
  /** Whether `reminderId` was marked (throws when the marks cannot be read: then do not send). */
  accepted(reminderId: string): Promise<boolean>;
}

/** Ids that fit one NATS subject token. */
const SUBJECT_TOKEN = /^[A-Za-z0-9_-]{1,200}$/;
/** JetStream's "no message found" (a read of a subject without a mark). */
const NO_MESSAGE_FOUND = 10037;
const EMPTY = new Uint8Array(0);

/** Marks in HAVEN_ACCEPTED (see the module comment). */
export class NatsAcceptedMarks implements AcceptedMarks {
  readonly #nc: NatsConnection;
  readonly #jsm: JetStreamManager;
  readonly #prefix: string;
  /** Subjects of the marks made in this turn of the event loop, not yet published. */
  #queued: string[] = [];

  private constructor(nc: NatsConnection, jsm: JetStreamManager, service: string) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#prefix = `${ACCEPTED_MARKS_SUBJECT_PREFIX}.${service}.`;
  }

  /**
   * The marks of `service` on `nc`, once HAVEN_ACCEPTED is there; undefined (logged as an error: the outbox then
   * records every ReminderSent at once) when the operator has not provisioned it or its settings lack a guarantee.
   */
  static async open(
    nc: NatsConnection,
    service: string,
    logger: Pick<Logger, 'error' | 'warn'>,
  ): Promise<NatsAcceptedMarks | undefined> {
    const jsm = await nc.jetstreamManager();
    try {
      const [checked] = await verifyHavenStreams(jsm, [HavenStream.AcceptedMarks], { log: logger });
      if (checked && checked.problems.length > 0) return undefined;
    } catch (error) {
      logger.error({ err: error }, 'outbox: no accepted marks, every ReminderSent is written at once');
      return undefined;
    }
    return new NatsAcceptedMarks(nc, jsm, service);
  }

  mark(reminderId: string): boolean {
    if (this.#nc.isClosed() || !SUBJECT_TOKEN.test(reminderId)) return false;
    this.#queued.push(this.#prefix + reminderId);
    if (this.#queued.length === 1) setImmediate(() => this.#publishQueued());
    return true;
  }

  /**
   * Publishes the marks queued in this turn of the event loop (its check phase: after every socket read of the
   * turn, before any timer), so the 250s of both pooled connections read in one turn leave in one write.
   */
  #publishQueued(): void {
    const subjects = this.#queued;
    this.#queued = [];
    if (this.#nc.isClosed()) return;
    for (const subject of subjects) this.#nc.publish(subject, EMPTY);
  }

  async accepted(reminderId: string): Promise<boolean> {
    if (!SUBJECT_TOKEN.test(reminderId)) return false;
    try {
      await this.#jsm.streams.getMessage(ACCEPTED_MARKS_STREAM, { last_by_subj: this.#prefix + reminderId });
      return true;
    } catch (error) {
      if (error instanceof NatsError && error.api_error?.err_code === NO_MESSAGE_FOUND) return false;
      throw error;
    }
  }
}
