/**
 * The notification outbox (docs/adr/0015-notification-outbox-and-templates.md). A follower of the scheduling
 * context (consumer `scheduling.notifications`) plans messages from appointment events (ReminderScheduled,
 * one stream per message, deterministic ids) and keeps the index of open reminders; a sender loop starts each
 * due one:
 *
 *   1. load the reminder and the appointment; suppress what became stale (moved, cancelled, too late);
 *   2. append ReminderSending at the expected revision: the reminder now belongs to this attempt (a second
 *      sender loses the race and skips it) until its lease runs out — a poll claims its batch together, so
 *      these appends leave in one write to NATS;
 *   3. append PhiAccessed (purpose treatment-communication; one event per patient for the batch's contact
 *      reads, listing the fields), then open the patient's sealed contact details — nothing is opened or sent
 *      when that append fails;
 *   4. render the linted template (allowed fields only); check that the patient was not erased by the claim (an
 *      erasure stored before the claim, by any replica, suppresses it: `patient_erased`) — from this outbox's
 *      follower once it has passed the claim's position, else from the patient's stream itself — and hand it
 *      to the transport with the reminder's Message-ID;
 *   5. on the relay's 250, mark the reminder accepted (accepted-marks.ts: a plain NATS publish, nothing
 *      awaited) and hold its ReminderSent: the held ones are appended together when the in-flight set drains,
 *      when as many as the concurrency are held, or {@link HOLD_SENT_MS} after the first; without a mark (no
 *      marks stream, an id that fits no subject) ReminderSent is appended at once. A refusal appends
 *      ReminderFailed (retry after a back-off, or final) at once.
 *
 * A sender that dies between 2 and 5 leaves a `sending` reminder: once the lease ran out the next sender claims
 * it and, when an earlier attempt may have reached the relay, reads its mark first — a marked one is recorded as
 * sent (`recovered`), the others go again with the same Message-ID. The residual window: the relay accepted the
 * message (250) and the sender died before the mark left this process (or NATS lost it) — then the patient's
 * relay sees the same Message-ID twice. Without marks the window ran to the ReminderSent append's ack.
 */
import { ConcurrencyError, PreconditionError, UnavailableError, isCategory } from '@haven/errors';
import { openPhi } from '@haven/crypto';
import {
  followStore,
  type ConsumerHealth,
  type EventStore,
  type PositionedEvent,
  type Subscription,
} from '@haven/eventstore';
import {
  causedBy,
  commandEvent,
  handleCommand,
  loadAggregate,
  PrincipalKind,
  type CommandMetadata,
  type Logger,
} from '@haven/service';
import {
  AppointmentEventType,
  evolve as evolveAppointment,
  initialAppointmentState,
  type AppointmentState,
  type ExistingAppointment,
} from '../appointment/appointment';
import { MessageThreadEventType, messageThreadStream } from '../message/thread';
import { issueMessagesLink } from '../message/messages-link-grpc';
import { loadAppointment } from '../appointment/grpc';
import {
  evolveSmsContact,
  initialSmsContactState,
  isOptedOut,
  SmsContactEventType,
} from '../contact/contact';
import type { ContactKeyer, UnsubscribeTokens } from '../contact/contact-key';
import { EmailContactEventType, isEssential } from '../contact/email-contact';
import { EMAIL_UNSUBSCRIBE_PATH } from '../contact/email-unsubscribe';
import type { SchedulingDeps } from '../deps';
import { loadPatient, openPatientPhi } from '../patient/grpc';
import { evolvePatient, PatientEventType, patientStream, type PatientState } from '../patient/patient';
import { PhiAccessRecorder } from '../phi-access';
import { formatClinicSpan } from '../schedule/clinic-time';
import {
  channelRoles,
  decideReminder,
  isDue,
  planMessages,
  staleness,
  type AppointmentChange,
  type OutboxPolicy,
  type ReminderCommand,
} from './decide';
import {
  evolveReminder,
  initialReminderState,
  messageIdOf,
  PasscodeDelivery,
  ReminderChannel,
  ReminderEventType,
  ReminderKind,
  reminderStream,
  SuppressionReason,
  type ReminderPlan,
  type ReminderState,
} from './reminder';
import {
  DEFAULT_OPT_OUT,
  PASSCODE_NOTES,
  renderMessage,
  renderWithoutLink,
  TemplateBook,
  templateFor,
  type MessageTemplate,
  type RenderedMessage,
  type TemplateValues,
} from './template';
import { messageNotice, planMessageNotices, type PostedMessage } from './message-notice';
import { TransportError, type MessageTransport } from './transport';
import type { AcceptedMarks } from './accepted-marks';

/** The PhiAccessed purpose of reading contact details to send a message. */
export const TREATMENT_COMMUNICATION = 'PHI_ACCESS_PURPOSE_TREATMENT_COMMUNICATION';

/** Clinic settings of the outbox. */
export interface NotificationSettings {
  readonly clinicName: string;
  readonly language: string;
  /**
   * `front-desk`: staff read the passcode out when they issue the link; `sms` / `email`: the passcode goes
   * alone by that channel and the link by the other. Messages with the link wait until it is issued.
   */
  readonly passcodeDelivery: PasscodeDelivery;
  /** The domain part of Message-IDs. */
  readonly messageDomain: string;
  readonly templates: readonly MessageTemplate[];
  readonly policy: OutboxPolicy;
  /** Keys phone numbers for the STOP list (SmsContact streams); without it no SMS opt-out is checked. */
  readonly contactKeyer?: ContactKeyer;
  /**
   * E-mail unsubscribe tokens: with them every e-mail carries the one-click unsubscribe (RFC 8058 headers and a
   * link in the opt-out wording), and an address that used it gets only the essential kinds (email-contact.ts).
   */
  readonly unsubscribe?: UnsubscribeTokens;
}

/** Options of {@link ReminderOutbox}. */
export interface ReminderOutboxOptions {
  /** How often the sender looks for due reminders (default 1 000 ms). */
  readonly pollMs?: number;
  /** Reminders sent at once (default 4). */
  readonly concurrency?: number;
  /**
   * Where the relay's acceptances are marked; without marks every ReminderSent is appended at once (the wider
   * crash window of ADR 0015).
   */
  readonly marks?: AcceptedMarks;
}

const SERVICE_ACTOR = { kind: 'service', id: 'scheduling' } as const;
const APPOINTMENT_STREAM_PREFIX = 'scheduling.appointment-';
const PATIENT_STREAM_PREFIX = patientStream('');
/**
 * How long the erasure check waits for this outbox's follower to pass a claim's position before it reads the
 * patient's stream instead (a follower that lags, re-opens or is closed costs that read, never a send).
 */
const FOLLOWER_WAIT_MS = 100;
/**
 * The longest a marked ReminderSent waits for others before the held ones are appended (a reminder held stays
 * `sending` under its lease meanwhile: no sender takes it).
 */
const HOLD_SENT_MS = 20;
const RESOLVED = Promise.resolve();

type OutboxDeps = Pick<SchedulingDeps, 'store' | 'clock' | 'keys' | 'logger' | 'settings'> &
  Partial<Pick<SchedulingDeps, 'readModel'>>;

/** What a reminder by the passcode's channel says instead of the link (the link came by the other one). */
const LINK_ELSEWHERE: Readonly<Record<ReminderChannel, string>> = {
  [ReminderChannel.Sms]: 'Your join link came by e-mail.',
  [ReminderChannel.Email]: 'Your join link came by text message.',
};

/** The outbox: planner, index of open reminders, sender. */
export class ReminderOutbox {
  /** Reminders sent at once unless the options say otherwise (HAVEN_REMINDER_CONCURRENCY's default). */
  static readonly DEFAULT_CONCURRENCY = 16;
  readonly #deps: OutboxDeps;
  readonly #transports: ReadonlyMap<string, MessageTransport>;
  readonly #settings: NotificationSettings;
  readonly #pollMs: number;
  readonly #concurrency: number;
  readonly #marks: AcceptedMarks | undefined;
  /** ReminderSent appends held (their relay accepted them, their marks are out) until the next group write. */
  #held: HeldSent[] = [];
  #holdTimer: NodeJS.Timeout | undefined;
  /** Group writes under way. */
  readonly #writing = new Set<Promise<void>>();
  readonly #open = new Map<string, ReminderState>();
  readonly #inFlight = new Set<string>();
  /** Rounds waiting for free slots: woken once as many as they want are free (or the sender stopped). */
  readonly #slotWaiters: { readonly wanted: number; readonly wake: () => void }[] = [];
  /** Display names by clinician id; a clinician without one is looked up again after a minute. */
  readonly #clinicians = new Map<string, { readonly name: string; readonly until: number }>();
  /**
   * The appointments as this follower saw them, folded in the same order as the reminders: a reminder never
   * sees an appointment older than the event that planned it, and sending reads no stream (a state that would
   * suppress the reminder is read again from the store first).
   */
  readonly #appointments = new Map<string, ExistingAppointment>();
  /** Contact keys of the e-mail addresses that unsubscribed, as this follower saw them. */
  readonly #emailOptOuts = new Set<string>();
  /**
   * Contact keys of the numbers that replied STOP (and not START since), as this follower saw them: rebuilt from
   * the store on every start (the follower reads from the start), and every replica's follower sees the STOP
   * that any replica recorded. A STOP stored in the milliseconds before a send may not be seen by that send
   * (like the e-mail opt-outs).
   */
  readonly #smsOptOuts = new Set<string>();
  /**
   * Patients whose PatientErased this follower handled, and the position of the last event it handled: once it
   * is at or past a claim's position, every erasure stored before the claim is in the set (the follower gets
   * the scheduling context in the store's global order, one event after the other).
   */
  readonly #erasedSeen = new Set<string>();
  #followed = -1n;
  #following = false;
  /** Erasure checks waiting for the follower to reach a position. */
  readonly #positionWaiters = new Set<{
    readonly position: bigint;
    readonly done: (passed: boolean) => void;
  }>();
  /** The templates admins saved (UpdateMessageTemplateSet), folded from the same follower. */
  readonly #book = new TemplateBook();
  readonly #patients = new Map<string, Awaited<ReturnType<typeof loadPatient>>>();
  /** The templates {@link templateFor} chooses from: the saved ones (as `saved` was), then the settings'. */
  #templateList:
    { readonly saved: readonly MessageTemplate[]; readonly all: readonly MessageTemplate[] } | undefined;
  /** The clinic's public URL without a trailing slash. */
  readonly #publicBase: string;
  /** PhiAccessed of the contact reads, one append per patient at a time (concurrent sends batch theirs). */
  readonly #accessLog: PhiAccessRecorder;
  #timer: NodeJS.Timeout | undefined;
  /** Rounds still running (a round ends when its due reminders are done; later rounds use the free slots). */
  readonly #rounds = new Set<Promise<void>>();
  #stopped = false;

  constructor(
    deps: OutboxDeps,
    transports: readonly MessageTransport[],
    settings: NotificationSettings,
    options: ReminderOutboxOptions = {},
  ) {
    this.#deps = deps;
    this.#accessLog = new PhiAccessRecorder(deps);
    this.#transports = new Map(transports.map((t) => [t.channel, t]));
    this.#settings = settings;
    this.#pollMs = options.pollMs ?? 1_000;
    this.#concurrency = options.concurrency ?? ReminderOutbox.DEFAULT_CONCURRENCY;
    this.#marks = options.marks;
    this.#publicBase = deps.settings.publicUrl.replace(/\/+$/, '');
  }

  /** Reminders not yet sent, failed for good or suppressed (for tests and metrics). */
  openCount(): number {
    return this.#open.size;
  }

  /**
   * Follows the scheduling context from the start (consumer `scheduling.notifications`) in `store`, which must
   * be the outbox's own store (its positions are compared with those of the outbox's appends).
   */
  async follow(store: EventStore, logger: Logger, health?: ConsumerHealth): Promise<Subscription> {
    const subscription = await followStore(store, {
      name: 'scheduling.notifications',
      from: 'start',
      contexts: ['scheduling.'],
      logger,
      ...(health ? { health } : {}),
      // Most events (the outbox's own among them) change only the index: no promise of their own.
      handler: (event) => {
        const planning = this.#observe(event);
        if (planning) return planning.then(() => this.#passed(event.position));
        this.#passed(event.position);
        return RESOLVED;
      },
    });
    this.#following = true;
    return {
      close: async () => {
        this.#following = false;
        for (const waiter of this.#positionWaiters) waiter.done(false);
        await subscription.close();
      },
    };
  }

  /** The follower handled the event at `position` (and every one before it). */
  #passed(position: bigint): void {
    if (position > this.#followed) this.#followed = position;
    for (const waiter of this.#positionWaiters) if (waiter.position <= position) waiter.done(true);
  }

  /**
   * Resolves true once the follower has handled the event at `position`, false when it does not within
   * {@link FOLLOWER_WAIT_MS} (or there is no follower).
   */
  #followerPast(position: bigint): Promise<boolean> {
    if (this.#followed >= position) return Promise.resolve(true);
    if (!this.#following) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter = {
        position,
        done: (passed: boolean) => {
          clearTimeout(timer);
          this.#positionWaiters.delete(waiter);
          resolve(passed);
        },
      };
      const timer = setTimeout(() => waiter.done(false), FOLLOWER_WAIT_MS);
      this.#positionWaiters.add(waiter);
    });
  }

  /** Starts the sender loop. */
  start(): void {
    this.#timer = setInterval(() => {
      // Not one round at a time: a message stuck on a slow relay holds its own slot only.
      if (this.#inFlight.size >= this.#concurrency) return;
      const round = this.tick().finally(() => this.#rounds.delete(round));
      this.#rounds.add(round);
    }, this.#pollMs);
    this.#timer.unref();
  }

  /** Stops the loop; resolves once the current round is over and its held ReminderSent are written. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await Promise.all([...this.#rounds]);
    await this.#written();
    await Promise.all([...this.#transports.values()].map((t) => t.close().catch(() => undefined)));
  }

  /** Folds `event` into the index; a promise when it plans messages (appends), else undefined. */
  #observe(event: PositionedEvent): Promise<void> | undefined {
    this.#book.apply(event);
    if (event.type === PatientEventType.Erased && event.stream.startsWith(PATIENT_STREAM_PREFIX)) {
      this.#erasedSeen.add(event.stream.slice(PATIENT_STREAM_PREFIX.length));
      return;
    }
    if (event.type === EmailContactEventType.OptedOut) {
      const key = event.data['contactKey'];
      if (typeof key === 'string') this.#emailOptOuts.add(key);
      return;
    }
    if (event.type === SmsContactEventType.OptedOut || event.type === SmsContactEventType.OptedIn) {
      const key = event.data['contactKey'];
      if (typeof key !== 'string') return;
      if (isOptedOut(evolveSmsContact(initialSmsContactState, event))) this.#smsOptOuts.add(key);
      else this.#smsOptOuts.delete(key);
      return;
    }
    if (event.stream.startsWith(APPOINTMENT_STREAM_PREFIX)) {
      const id = event.stream.slice(APPOINTMENT_STREAM_PREFIX.length);
      const next = evolveAppointment(this.#appointments.get(id) ?? initialAppointmentState, event);
      if (next.status !== 'none') this.#appointments.set(id, next);
    }
    if (event.stream.startsWith('scheduling.reminder-')) {
      const id = event.stream.slice('scheduling.reminder-'.length);
      const next = evolveReminder(this.#open.get(id) ?? initialReminderState, event);
      if (next.status === 'scheduled' || next.status === 'sending') this.#open.set(id, next);
      else this.#open.delete(id);
      return;
    }
    if (
      event.type === AppointmentEventType.Booked ||
      event.type === AppointmentEventType.Rescheduled ||
      event.type === AppointmentEventType.Cancelled ||
      (event.type === AppointmentEventType.PatientLinkIssued &&
        this.#settings.passcodeDelivery !== PasscodeDelivery.FrontDesk)
    ) {
      return this.#plan(event);
    }
    if (event.type === MessageThreadEventType.Posted) return this.#planNotice(event);
    return undefined;
  }

  /** Plans the notice of a care team's secure message (one pending notice per thread and channel). */
  async #planNotice(event: PositionedEvent): Promise<void> {
    const posted = event.data as unknown as PostedMessage;
    const [opened] = await this.#deps.store.read(messageThreadStream(posted.threadId), { limit: 1 });
    const patientId = opened?.data['patientId'];
    if (typeof patientId !== 'string') return;
    const pending = (channel: ReminderChannel) =>
      [...this.#open.values()].some(
        (r) =>
          r.status === 'scheduled' &&
          r.kind === ReminderKind.Message &&
          r.threadId === posted.threadId &&
          r.channel === channel,
      );
    const channels = this.#settings.policy.channels.filter((c) => this.#transports.has(c));
    for (const plan of planMessageNotices(posted, patientId, channels, pending)) {
      await this.#schedule(plan, event);
    }
  }

  /** Appends a ReminderScheduled per planned message; one already planned is left as it is. */
  async #plan(event: PositionedEvent): Promise<void> {
    const change = event as unknown as AppointmentChange;
    const state = await this.#appointment(change.data.appointmentId);
    if (state.status === 'none') return;
    const startTime =
      change.type === AppointmentEventType.Rescheduled ? change.data.startTime : state.startTime;
    const plans = planMessages(
      change,
      { clinicianId: state.clinicianId, patientId: state.patientId, startTime },
      {
        ...this.#settings.policy,
        channels: this.#settings.policy.channels.filter((c) => this.#transports.has(c)),
        passcodeDelivery: this.#settings.passcodeDelivery,
      },
      new Date(event.occurredAt),
    );
    for (const plan of plans) await this.#schedule(plan, event);
  }

  /** Appends ReminderScheduled for `plan` unless it was planned before. */
  async #schedule(plan: ReminderPlan, cause: PositionedEvent): Promise<void> {
    const existing = await this.#deps.store.read(reminderStream(plan.reminderId), { limit: 1 });
    if (existing.length > 0) return;
    try {
      await this.#run(
        plan.reminderId,
        { type: 'ScheduleReminder', data: plan },
        causedBy(cause, SERVICE_ACTOR),
      );
    } catch (error) {
      if (!isCategory(error, 'already_exists') && !(error instanceof ConcurrencyError)) throw error;
    }
  }

  #run(reminderId: string, command: ReminderCommand, metadata: CommandMetadata) {
    return handleCommand({
      store: this.#deps.store,
      stream: reminderStream(reminderId),
      decide: decideReminder,
      evolve: evolveReminder,
      initialState: initialReminderState,
      command,
      metadata,
      now: this.#deps.clock,
    });
  }

  /**
   * One round: every due reminder not already in flight, in batches on the slots free (the sender keeps at most
   * `concurrency` reminders in flight across rounds); resolves when they are done. A batch is claimed together
   * (its ReminderSending appends leave in one write) and records one PhiAccessed per patient before any of its
   * contact reads; each message then frees its own slot, and the next batch is claimed once half the slots (or
   * as many as are still due) are free.
   */
  async tick(): Promise<void> {
    const now = this.#deps.clock();
    const due = [...this.#open.values()]
      .filter((r) => r.status !== 'none' && isDue(r, now) && !this.#inFlight.has(r.reminderId))
      .map((r) => (r.status === 'none' ? '' : r.reminderId));
    let next = 0;
    const running: Promise<void>[] = [];
    while (!this.#stopped && next < due.length) {
      const free = this.#concurrency - this.#inFlight.size;
      if (free <= 0) break;
      const batch: string[] = [];
      while (batch.length < free && next < due.length) {
        const id = due[next++]!;
        // done, or a later round took it, meanwhile
        if (this.#open.has(id) && !this.#inFlight.has(id)) batch.push(id);
      }
      for (const id of batch) this.#inFlight.add(id);
      running.push(this.#sendBatch(batch));
      if (next < due.length)
        await this.#slotsFree(Math.min(Math.ceil(this.#concurrency / 2), due.length - next));
    }
    await Promise.all(running);
    await this.#written();
  }

  /** Resolves once `wanted` slots are free (or the sender stopped). */
  async #slotsFree(wanted: number): Promise<void> {
    while (!this.#stopped && this.#concurrency - this.#inFlight.size < wanted) {
      await new Promise<void>((resolve) => this.#slotWaiters.push({ wanted, wake: resolve }));
    }
  }

  #release(reminderId: string): void {
    this.#inFlight.delete(reminderId);
    if (this.#inFlight.size === 0) this.#writeHeld();
    if (this.#slotWaiters.length === 0) return;
    const free = this.#concurrency - this.#inFlight.size;
    const waiting = this.#slotWaiters.splice(0);
    for (const waiter of waiting) {
      if (this.#stopped || waiter.wanted <= free) waiter.wake();
      else this.#slotWaiters.push(waiter);
    }
  }

  /** Holds the ReminderSent of a marked reminder for the next group write (see the module comment). */
  #hold(sent: HeldSent): void {
    this.#held.push(sent);
    if (this.#held.length >= this.#concurrency) this.#writeHeld();
    else this.#holdTimer ??= setTimeout(() => this.#writeHeld(), HOLD_SENT_MS);
  }

  /**
   * Appends every held ReminderSent now (the appends leave together). One that fails leaves its reminder
   * `sending`: after the lease, the next claim finds its mark and records it.
   */
  #writeHeld(): void {
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    if (this.#held.length === 0) return;
    const group = this.#held;
    this.#held = [];
    const write = Promise.all(group.map((sent) => this.#recordSent(sent))).then(() => undefined);
    this.#writing.add(write);
    void write.finally(() => this.#writing.delete(write));
  }

  /** Resolves once every ReminderSent held so far is written (or failed). */
  async #written(): Promise<void> {
    this.#writeHeld();
    await Promise.all([...this.#writing]);
  }

  async #recordSent({ sending, metadata, at, recovered }: HeldSent): Promise<void> {
    if (sending.status === 'none') return;
    const { reminderId, kind, channel } = sending;
    try {
      await this.#append(sending, { type: 'RecordSent', data: { now: at, recovered } }, metadata);
    } catch (error) {
      this.#deps.logger.warn({ err: error, reminderId }, 'reminder accepted, ReminderSent not stored');
      return;
    }
    this.#deps.logger.info(
      { reminderId, kind, channel, ...(recovered ? { recovered } : {}) },
      recovered ? 'reminder recorded as sent from its accepted mark' : 'reminder sent',
    );
  }

  /** Claims, records the accesses of, and delivers the reminders of `ids` (each already in flight). */
  async #sendBatch(ids: readonly string[]): Promise<void> {
    const notSent = (reminderId: string) => (error: unknown) =>
      this.#deps.logger.warn({ err: error, reminderId }, 'reminder not sent this round');
    const claims: Claim[] = [];
    await Promise.all(
      ids.map(async (id) => {
        try {
          const claim = await this.#claim(id, this.#open.get(id));
          if (claim) claims.push(claim);
          else this.#release(id);
        } catch (error) {
          notSent(id)(error);
          this.#release(id);
        }
      }),
    );
    // The erasure check of each patient of the batch, once, made while its PhiAccessed is appended: from the
    // follower once it passed the batch's last claim, else read from the patient's stream.
    const last = claims.reduce((max, c) => (c.position > max ? c.position : max), -1n);
    const followed = claims.length > 0 ? this.#followerPast(last) : Promise.resolve(false);
    const checks = new Map<string, Promise<boolean>>();
    const erasureCheck = (patientId: string) => {
      let check = checks.get(patientId);
      if (!check) checks.set(patientId, (check = this.#erasedBy(patientId, followed)));
      return check;
    };
    // The contact details of each patient of the batch, opened once (after the first of its claims' PhiAccessed
    // was stored: the event covers every contact read of the patient in the batch).
    const contacts = new Map<string, Promise<Record<string, unknown>>>();
    const open = (patientId: string) => {
      let opened = contacts.get(patientId);
      if (!opened) contacts.set(patientId, (opened = this.#openContact(patientId)));
      return opened;
    };
    await Promise.all(
      claims.map(async (claim) => {
        const id = claim.state.reminderId;
        try {
          const erased = erasureCheck(claim.state.patientId);
          erased.catch(() => undefined); // awaited by #deliver; a failed access record leaves it unread
          await this.#recordAccess(claim);
          await this.#deliver(claim, erased, open);
        } catch (error) {
          notSent(id)(error);
        } finally {
          this.#release(id);
        }
      }),
    );
  }

  /**
   * Sends one reminder if it is (still) due: from `known` (the index's state; a stale one only costs a
   * refused append) or loaded; resolves once its ReminderSent is written. Throws when the store cannot be
   * reached (tried again next round).
   */
  async sendOne(reminderId: string, known?: ReminderState): Promise<void> {
    const claim = await this.#claim(reminderId, known);
    if (!claim) return;
    const erased = this.#erasedBy(claim.state.patientId, this.#followerPast(claim.position));
    erased.catch(() => undefined); // awaited by #deliver; a failed access record leaves it unread
    await this.#recordAccess(claim);
    await this.#deliver(claim, erased);
    await this.#written();
  }

  /**
   * Decides whether the reminder goes now and claims it (ReminderSending at its revision); undefined when it is
   * not due, suppressed, waits for its link, or another sender has it.
   */
  async #claim(reminderId: string, known?: ReminderState): Promise<Claim | undefined> {
    const deps = this.#deps;
    const state = known ?? (await this.#loadReminder(reminderId));
    const now = deps.clock();
    if (state.status === 'none' || !isDue(state, now)) return undefined;
    const metadata: CommandMetadata = { actor: SERVICE_ACTOR, correlationId: `reminder-${reminderId}` };
    const notice = state.kind === ReminderKind.Message;
    let appointment: AppointmentState = notice
      ? { status: 'none' }
      : (this.#appointments.get(state.appointmentId) ?? (await this.#appointment(state.appointmentId)));
    let stale = notice ? undefined : staleness(state, appointmentNow(appointment), now);
    if (stale) {
      // Suppressing is for good: decide it on the stream itself, not on this follower's copy.
      appointment = (await loadAppointment(deps, state.appointmentId)).state;
      stale = staleness(state, appointmentNow(appointment), now);
      if (stale) return void (await this.#suppress(state, stale, metadata));
    }
    const transport = this.#transports.get(state.channel);
    if (!transport) return undefined;
    let joinLink = '';
    let passcode = '';
    if (notice) {
      // Its messages link is issued once the message is known to go (#deliver): none for an opted-out patient.
    } else if (state.kind === ReminderKind.Passcode) {
      // Only the passcode, sealed with the link when the clinic sends it by the other channel.
      passcode = (await this.#linkSecrets(appointment))?.passcode ?? '';
      if (passcode === '') return void (await this.#suppress(state, SuppressionReason.NoLink, metadata));
    } else if (
      state.kind === ReminderKind.Reminder &&
      channelRoles(this.#settings.passcodeDelivery, this.#settings.policy.channels).passcode === state.channel
    ) {
      // A reminder by the passcode's channel: the time, never the link (the link and the passcode never share
      // a channel), so it needs no link issued.
      joinLink = LINK_ELSEWHERE[state.channel];
    } else if (state.kind !== ReminderKind.Cancelled) {
      const token = (await this.#linkSecrets(appointment))?.linkToken;
      // The message waits until staff issued the link (and read the passcode out, or it went separately).
      if (token === undefined) return undefined;
      joinLink = `${this.#publicBase}/join#${token}`;
    }
    const messageId = messageIdOf(reminderId, this.#settings.messageDomain);
    try {
      const { next: sending, position } = await this.#append(
        state,
        { type: 'StartSending', data: { messageId, now, leaseMs: this.#settings.policy.leaseMs } },
        metadata,
      );
      // An earlier attempt that did not end (its sender died, or its ReminderSent was not stored) may have
      // reached the relay: its mark says so, and then it is recorded, not sent again. A mark that cannot be
      // read throws: the reminder waits for this lease to run out rather than risk a second copy.
      if (state.status === 'sending' && (await this.#marks?.accepted(reminderId))) {
        await this.#recordSent({ sending, metadata, at: now, recovered: true });
        return undefined;
      }
      return { state, sending, position, appointment, transport, joinLink, passcode, messageId, metadata };
    } catch (error) {
      if (error instanceof ConcurrencyError || isCategory(error, 'precondition')) return undefined; // another sender has it
      throw error;
    }
  }

  /**
   * PhiAccessed (treatment-communication) for the contact read of `claim`, before it; the claims of one batch
   * record one event per patient (PhiAccessRecorder). Throws UnavailableError when it cannot be stored: then
   * nothing is read or sent, and the reminder goes again once its lease ran out.
   */
  #recordAccess(claim: Claim): Promise<void> {
    const { state, metadata } = claim;
    return this.#accessLog.record({
      principal: { kind: PrincipalKind.Service, id: 'scheduling', scopes: [] },
      ctx: {
        correlationId: metadata.correlationId,
        traceparent: undefined,
        method: 'scheduling.notifications/SendReminder',
      },
      patientId: state.patientId,
      what: `patients/${state.patientId}`,
      fields: [contactField(state.channel)],
      why: TREATMENT_COMMUNICATION,
      outcome: 'granted',
    });
  }

  /**
   * Opens the contact details of a claimed reminder (its PhiAccessed stored), renders and sends it unless
   * `erased` (the patient's stream read after the claim) says the patient was erased.
   */
  async #deliver(
    claim: Claim,
    erased: Promise<boolean>,
    open: (patientId: string) => Promise<Record<string, unknown>> = (id) => this.#openContact(id),
  ): Promise<void> {
    const deps = this.#deps;
    const { state, sending, appointment, transport, passcode, messageId, metadata } = claim;
    let joinLink = claim.joinLink;
    const reminderId = state.reminderId;
    const field = contactField(state.channel);
    let to: string;
    try {
      const phi = await open(state.patientId);
      to = typeof phi[field] === 'string' ? phi[field] : '';
    } catch (error) {
      if (isCategory(error, 'precondition') || isCategory(error, 'not_found')) {
        return this.#suppress(sending, SuppressionReason.PatientErased, metadata);
      }
      throw error;
    }
    if (to === '') return this.#suppress(sending, SuppressionReason.NoContact, metadata);
    if (state.channel === ReminderChannel.Sms && this.#optedOut(to)) {
      return this.#suppress(sending, SuppressionReason.OptedOut, metadata);
    }
    const { optedOut, unsubscribeUrl } = this.#unsubscribe(state, to);
    if (optedOut) return this.#suppress(sending, SuppressionReason.OptedOut, metadata);
    if (state.kind === ReminderKind.Message) joinLink = await this.#messagesLink(state.patientId, metadata);
    const clinician =
      state.kind === ReminderKind.Message
        ? ''
        : (this.#knownClinicianName(state.clinicianId) ?? (await this.#clinicianName(state.clinicianId)));
    const message = this.#render(state, appointment, joinLink, passcode, unsubscribeUrl, clinician);
    // A claim whose lease ran out while it waited may already be another sender's: leave it to the next round.
    const leaseUntil = sending.status === 'sending' ? sending.leaseUntil : undefined;
    if (leaseUntil === undefined || Date.parse(leaseUntil) <= deps.clock().getTime()) return;
    // The last check, on the patient's stream itself (read since the claim): an erasure stored by then, by any
    // replica, seen or not by this one's follower, stops the message even while this replica holds the key.
    if (await erased) {
      return this.#suppress(sending, SuppressionReason.PatientErased, metadata);
    }
    const at = deps.clock();
    try {
      await transport.send({
        messageId,
        to,
        subject: message.subject,
        text: state.channel === ReminderChannel.Email ? message.body : message.sms,
        ...(unsubscribeUrl ? { unsubscribeUrl } : {}),
      });
    } catch (error) {
      const failure =
        error instanceof TransportError ? error : new TransportError('internal', true, { cause: error });
      deps.logger.warn(
        { reminderId, reasonCode: failure.reason, retryable: failure.retryable },
        'reminder not accepted',
      );
      await this.#commit(
        sending,
        {
          type: 'RecordFailure',
          data: {
            now: deps.clock(),
            reason: failure.reason,
            retryable: failure.retryable,
            policy: this.#settings.policy,
          },
        },
        metadata,
      );
      return;
    }
    // Marked accepted: its ReminderSent goes with the next group; else (no marks) at once, as before marks.
    if (this.#marks?.mark(reminderId)) return this.#hold({ sending, metadata, at, recovered: false });
    await this.#recordSent({ sending, metadata, at, recovered: false });
  }

  /**
   * The message of a reminder: its template (the passcode one for the passcode) with the values its kind allows;
   * a reminder by the passcode's channel says where the link went instead of the link's line.
   */
  #render(
    state: ReminderPlan,
    appointment: AppointmentState,
    joinLink: string,
    passcode: string,
    unsubscribeUrl: string | undefined,
    clinicianName: string,
  ): RenderedMessage {
    const deps = this.#deps;
    // An e-mail says how to stop e-mails: the one-click link (also in its List-Unsubscribe header).
    const optOut = unsubscribeUrl
      ? `To stop these e-mails, open ${unsubscribeUrl} or tell the clinic.`
      : DEFAULT_OPT_OUT;
    if (state.kind === ReminderKind.Message) {
      return messageNotice(this.#settings.clinicName, joinLink, optOut);
    }
    const values: TemplateValues = {
      clinic_name: this.#settings.clinicName,
      start_time:
        appointment.status === 'none'
          ? ''
          : formatClinicSpan(
              new Date(appointment.startTime),
              new Date(appointment.endTime),
              deps.settings.timeZone,
            ),
      clinician_name: clinicianName,
      join_link: joinLink,
      passcode_note:
        joinLink === '' || joinLink === LINK_ELSEWHERE[state.channel]
          ? ''
          : PASSCODE_NOTES[this.#settings.passcodeDelivery],
      opt_out: optOut,
      passcode: state.kind === ReminderKind.Passcode ? passcode : '',
    };
    const template = templateFor(this.#templates(), state.kind, this.#settings.language);
    return joinLink === LINK_ELSEWHERE[state.channel]
      ? renderWithoutLink(template, values, {
          email: LINK_ELSEWHERE[ReminderChannel.Email],
          sms: LINK_ELSEWHERE[ReminderChannel.Sms],
        })
      : renderMessage(template, values);
  }

  /** The saved templates, then the settings' (one list until the follower folds another saved set). */
  #templates(): readonly MessageTemplate[] {
    const saved = this.#book.all();
    if (this.#templateList?.saved !== saved) {
      this.#templateList = { saved, all: [...saved, ...this.#settings.templates] };
    }
    return this.#templateList.all;
  }

  /**
   * Decides on `state` and appends at its revision (a sender that lost a race gets ConcurrencyError), then
   * keeps the index in step (the follower's later delivery of the same events changes nothing).
   */
  async #commit(
    state: ReminderState,
    command: ReminderCommand,
    metadata: CommandMetadata,
  ): Promise<ReminderState> {
    return (await this.#append(state, command, metadata)).next;
  }

  /** {@link #commit}, with the position of the last event appended. */
  async #append(
    state: ReminderState,
    command: ReminderCommand,
    metadata: CommandMetadata,
  ): Promise<{ readonly next: ReminderState; readonly position: bigint }> {
    if (state.status === 'none') throw new PreconditionError('no such reminder');
    const events = decideReminder(command, state);
    const at = this.#deps.clock();
    const { position } = await this.#deps.store.append(
      reminderStream(state.reminderId),
      BigInt(state.revision),
      events.map((e) => commandEvent(metadata, { type: e.type, data: { ...e.data } }, at)),
    );
    let next: ReminderState = state;
    for (const e of events) next = evolveReminder(next, e);
    if (next.status === 'scheduled' || next.status === 'sending') this.#open.set(state.reminderId, next);
    else this.#open.delete(state.reminderId);
    return { next, position };
  }

  async #suppress(state: ReminderState, reason: SuppressionReason, metadata: CommandMetadata): Promise<void> {
    if (state.status === 'none') return;
    const reminderId = state.reminderId;
    try {
      await this.#commit(state, { type: 'SuppressReminder', data: { reason } }, metadata);
      this.#deps.logger.info({ reminderId, reasonCode: reason }, 'reminder suppressed');
    } catch (error) {
      if (!(error instanceof ConcurrencyError) && !isCategory(error, 'precondition')) throw error;
    }
  }

  /**
   * The patient's registration, sealed (cached: the registration never changes; opening it is what PhiAccessed
   * records, every time). The cached copy may miss a later PatientErased: `#erasedNow`
   * reads the stream again before every send.
   */
  async #patient(patientId: string): Promise<Awaited<ReturnType<typeof loadPatient>>> {
    return this.#patients.get(patientId) ?? (await this.#loadPatient(patientId));
  }

  /** {@link #patient} when it is not cached. */
  async #loadPatient(patientId: string): Promise<Awaited<ReturnType<typeof loadPatient>>> {
    const patient = await loadPatient(this.#deps, patientId);
    if (this.#patients.size >= 1_000) this.#patients.clear();
    this.#patients.set(patientId, patient);
    return patient;
  }

  /** Opens the patient's sealed contact details (its PhiAccessed already stored). */
  async #openContact(patientId: string): Promise<Record<string, unknown>> {
    return openPatientPhi(this.#deps, await this.#patient(patientId));
  }

  /**
   * True when the patient was erased before the claim: when `followed` says this outbox's follower passed the
   * claim, by what it saw (no read); else by {@link #erasedNow}.
   */
  async #erasedBy(patientId: string, followed: Promise<boolean>): Promise<boolean> {
    if (!(await followed)) return this.#erasedNow(patientId);
    return this.#erasedSeen.has(patientId) || (await this.#patient(patientId)).erased !== undefined;
  }

  /**
   * True when the patient was erased, read from their stream itself rather than this replica's copy (which a
   * follower that lags, or an erasure by another replica, leaves stale): one read of the stream's tail when
   * nothing was appended after the copy. ErasePatient appends PatientErased before it destroys the key, so a
   * check that starts after that append sees it even while the key (or this replica's cached copy of it) still
   * opens. The sender starts the check right after the claim, alongside the PhiAccessed append (one per patient
   * of a batch), and awaits it just before the hand-off: it costs no extra wait on the way to the relay.
   */
  async #erasedNow(patientId: string): Promise<boolean> {
    const known = await this.#patient(patientId);
    if (known.erased) return true;
    const later = await this.#deps.store.read(patientStream(patientId), {
      fromRevision: BigInt(known.revision + 1),
    });
    if (later.length === 0) return false;
    const now = later.reduce<PatientState>(evolvePatient, known);
    if (now.status !== 'registered') return false;
    this.#patients.set(patientId, now);
    return now.erased !== undefined;
  }

  /**
   * The current link's token (and passcode, when the clinic sends it by the other channel), opened from their
   * sealed copy; undefined when the appointment has no link yet or the copy cannot be opened.
   */
  async #linkSecrets(
    appointment: AppointmentState,
  ): Promise<{ linkToken?: string; passcode?: string } | undefined> {
    if (appointment.status === 'none' || !appointment.link?.tokenPhi) return undefined;
    try {
      const opened = await openPhi(this.#deps.keys, appointment.link.tokenPhi);
      const linkToken = opened['linkToken'];
      const passcode = opened['passcode'];
      return {
        ...(typeof linkToken === 'string' ? { linkToken } : {}),
        ...(typeof passcode === 'string' ? { passcode } : {}),
      };
    } catch (error) {
      if (error instanceof UnavailableError) throw error;
      return undefined;
    }
  }

  /**
   * The link of a message notice: the patient's messages page with a messages link of its own (a new token that
   * signs in to this patient's messages only, with the passcode of their latest visit; it opens no visit);
   * without any visit link yet (no passcode to prove), the page alone.
   */
  async #messagesLink(patientId: string, metadata: CommandMetadata): Promise<string> {
    const base = `${this.#publicBase}/messages`;
    const token = await issueMessagesLink(this.#deps, patientId, metadata);
    return token ? `${base}#${token}` : base;
  }

  /**
   * For an e-mail: whether the address unsubscribed and the kind is not essential, and its one-click unsubscribe
   * URL; neither for an SMS or without unsubscribe tokens.
   */
  #unsubscribe(state: ReminderPlan, to: string): { optedOut: boolean; unsubscribeUrl?: string } {
    const tokens = state.channel === ReminderChannel.Email ? this.#settings.unsubscribe : undefined;
    if (!tokens) return { optedOut: false };
    if (!isEssential(state.kind) && this.#emailOptOuts.has(tokens.keyOf(to))) return { optedOut: true };
    return {
      optedOut: false,
      unsubscribeUrl: `${this.#publicBase}${EMAIL_UNSUBSCRIBE_PATH}?t=${tokens.tokenOf(to)}`,
    };
  }

  /** True when the number replied STOP (and not START since), by this follower's projection. */
  #optedOut(phone: string): boolean {
    const keyer = this.#settings.contactKeyer;
    return keyer !== undefined && this.#smsOptOuts.has(keyer(phone));
  }

  /** A reminder read from its stream. */
  async #loadReminder(reminderId: string): Promise<ReminderState> {
    const { state } = await loadAggregate({
      store: this.#deps.store,
      stream: reminderStream(reminderId),
      evolve: evolveReminder,
      initialState: initialReminderState,
    });
    return state;
  }

  /** The appointment as this follower saw it; read from its stream when the follower has not seen it. */
  async #appointment(appointmentId: string): Promise<AppointmentState> {
    return this.#appointments.get(appointmentId) ?? (await loadAppointment(this.#deps, appointmentId)).state;
  }

  /**
   * The clinician's display name from their identity stream (staff data, not PHI); cached, and a clinician
   * without one for a minute (then "your clinician").
   */
  async #clinicianName(clinicianId: string): Promise<string> {
    const known = this.#knownClinicianName(clinicianId);
    if (known !== undefined) return known;
    let name = '';
    for (const e of await this.#deps.store.read(`identity.user-${clinicianId}`)) {
      const d = e.data['displayName'];
      if (typeof d === 'string' && d !== '') name = d;
    }
    if (this.#clinicians.size >= 1_000) this.#clinicians.clear();
    this.#clinicians.set(clinicianId, { name, until: Date.now() + 60_000 });
    return name || 'your clinician';
  }

  /** {@link #clinicianName} from the cache; undefined when it must be read. */
  #knownClinicianName(clinicianId: string): string | undefined {
    const cached = this.#clinicians.get(clinicianId);
    if (cached && (cached.name !== '' || cached.until > Date.now())) return cached.name || 'your clinician';
    return undefined;
  }
}

/** A reminder this sender claimed (ReminderSending stored) and what it needs to deliver it. */
interface Claim {
  readonly state: Exclude<ReminderState, { readonly status: 'none' }>;
  readonly sending: ReminderState;
  /** The position of its ReminderSending. */
  readonly position: bigint;
  readonly appointment: AppointmentState;
  readonly transport: MessageTransport;
  readonly joinLink: string;
  readonly passcode: string;
  readonly messageId: string;
  readonly metadata: CommandMetadata;
}

/** A ReminderSent to append: the claim's state, and when the relay accepted it. */
interface HeldSent {
  readonly sending: ReminderState;
  readonly metadata: CommandMetadata;
  readonly at: Date;
  readonly recovered: boolean;
}

/** The contact detail a channel sends to. */
function contactField(channel: ReminderChannel): 'email' | 'phone' {
  return channel === ReminderChannel.Email ? 'email' : 'phone';
}

function appointmentNow(state: AppointmentState) {
  return state.status === 'none'
    ? { status: 'none' as const }
    : {
        status: state.status,
        startTime: state.startTime,
        ...(state.link ? { linkId: state.link.linkId } : {}),
      };
}

/** True when `type` is one of the outbox's events. */
export function isReminderEvent(type: string): boolean {
  return (Object.values(ReminderEventType) as string[]).includes(type);
}
