/**
 * The fault suite's load driver: concurrent clients of the scheduling service that behave like a careful real
 * client. Every operation gets its own idempotency key (`request_id`) and correlation id, kept across its
 * retries; an attempt that ends in UNAVAILABLE, DEADLINE_EXCEEDED or ABORTED is retried with back-off (bounded
 * in attempts and time), any other answer is final. Every operation is journaled with its outcome, so the
 * checker can compare what clients were told with what the store holds.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { scheduling } from '@haven/proto';
import { callUnary, clientCallMetadata, type RequestOf, type ResponseOf } from '@haven/service';

/** The operations the driver sends. */
export type OperationKind = 'createPatient' | 'bookAppointment' | 'cancelAppointment';

/** One operation as the client lived it. */
export interface Operation {
  readonly kind: OperationKind;
  readonly requestId: string;
  readonly correlationId: string;
  /** Attempts sent (1 = no retry). */
  attempts: number;
  /** Status code of every failed attempt. */
  readonly failures: number[];
  /** `ok`: acknowledged; `refused`: a final error answer; `gave_up`: retries spent without an answer. */
  outcome: 'ok' | 'refused' | 'gave_up' | 'pending';
  /** Final status code when not ok. */
  finalCode?: number;
  /** The resource the answer named (`patients/…`, `appointments/…`). */
  result?: string;
  /** What the operation was about (the appointment a cancellation targets). */
  target?: string;
}

/** Options of {@link runLoad}. */
export interface LoadOptions {
  /** A client of the scheduling service (grpc-js reconnects by itself after the service restarts). */
  readonly client: scheduling.SchedulingServiceClient;
  /** A valid front-desk token. */
  readonly token: () => Promise<string>;
  /** Clinician ids to book for. */
  readonly clinicians: readonly string[];
  readonly concurrency: number;
  /** New operations are started until this says stop. */
  readonly done: () => boolean;
  /** Deadline of each attempt. Default 3 s. */
  readonly attemptDeadlineMs?: number;
  /** At most this many attempts per operation. Default 12. */
  readonly maxAttempts?: number;
  /** An operation stops retrying after this long. Default 45 s. */
  readonly operationBudgetMs?: number;
  /** Told about every finished operation (progress output). */
  readonly onOperation?: (op: Operation) => void;
}

/** Codes a careful client retries with the same request_id. */
export const RETRYABLE = new Set<number>([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.ABORTED,
]);

const DAY = 24 * 3600_000;

/** A 30-minute slot on one of the next 60 days, on the half hour between 08:00 and 18:00 UTC. */
function randomSlot(): { startTime: Date; endTime: Date } {
  const today = Math.floor(Date.now() / DAY) * DAY;
  const day = 1 + Math.floor(Math.random() * 60);
  const halfHour = 16 + Math.floor(Math.random() * 20);
  const start = new Date(today + day * DAY + halfHour * 1800_000);
  return { startTime: start, endTime: new Date(start.getTime() + 1800_000) };
}

type Client = scheduling.SchedulingServiceClient;

const pick = <T>(list: readonly T[]): T | undefined => list[Math.floor(Math.random() * list.length)];

/**
 * Runs the load until `done()` (operations in flight then finish, bounded by their budget) and resolves with
 * the journal of every operation. Never rejects on a call failure: failures are outcomes.
 */
export async function runLoad(options: LoadOptions): Promise<Operation[]> {
  const journal: Operation[] = [];
  const patients: string[] = [];
  const booked: string[] = [];
  const cancelled = new Set<string>();
  const deadlineMs = options.attemptDeadlineMs ?? 3_000;
  const maxAttempts = options.maxAttempts ?? 12;
  const budgetMs = options.operationBudgetMs ?? 45_000;

  async function attemptAll<R>(
    op: Operation,
    call: (metadata: grpc.Metadata) => Promise<R>,
  ): Promise<R | undefined> {
    const started = Date.now();
    for (;;) {
      op.attempts += 1;
      try {
        const metadata = clientCallMetadata({
          token: await options.token(),
          correlationId: op.correlationId,
        });
        const response = await call(metadata);
        op.outcome = 'ok';
        return response;
      } catch (error) {
        const code = (error as grpc.ServiceError).code ?? grpc.status.UNKNOWN;
        op.failures.push(code);
        if (!RETRYABLE.has(code)) {
          op.outcome = 'refused';
          op.finalCode = code;
          return undefined;
        }
        if (op.attempts >= maxAttempts || Date.now() - started > budgetMs) {
          op.outcome = 'gave_up';
          op.finalCode = code;
          return undefined;
        }
        const backoff = Math.min(2_000, 100 * 2 ** (op.attempts - 1));
        await new Promise((r) => setTimeout(r, backoff / 2 + Math.random() * backoff));
      }
    }
  }

  const newOp = (kind: OperationKind): Operation => {
    const op: Operation = {
      kind,
      requestId: randomUUID(),
      correlationId: randomUUID(),
      attempts: 0,
      failures: [],
      outcome: 'pending',
    };
    journal.push(op);
    return op;
  };

  /**
   * Journals an operation of `kind` (the RPC it calls) and calls it, retrying, with the request `build` makes for
   * the operation; the answer, or undefined when the operation failed.
   */
  async function perform<K extends OperationKind>(
    kind: K,
    build: (op: Operation) => RequestOf<Client, K>,
  ): Promise<{ op: Operation; response: ResponseOf<Client, K> | undefined }> {
    const op = newOp(kind);
    const request = build(op);
    const response = await attemptAll(op, (m) => callUnary(options.client, kind, request, m, { deadlineMs }));
    return { op, response };
  }

  async function createPatient(): Promise<void> {
    const { op, response } = await perform('createPatient', ({ requestId }) =>
      scheduling.CreatePatientRequest.fromPartial({
        patient: {
          givenName: `Fault${Math.floor(Math.random() * 1e6)}`,
          familyName: 'Tester',
          dateOfBirth: '1970-01-01',
        },
        requestId,
      }),
    );
    if (response?.patient) {
      op.result = response.patient.name;
      patients.push(response.patient.name);
    }
  }

  async function book(): Promise<void> {
    const patient = pick(patients);
    if (!patient) return createPatient();
    const { op, response } = await perform('bookAppointment', ({ requestId }) =>
      scheduling.BookAppointmentRequest.fromPartial({
        appointment: {
          clinician: `users/${pick(options.clinicians) ?? 'clin-fault'}`,
          patient,
          reason: 'fault suite check-up',
          ...randomSlot(),
        },
        requestId,
      }),
    );
    if (response?.appointment) {
      op.result = response.appointment.name;
      booked.push(response.appointment.name);
    }
  }

  async function cancel(): Promise<void> {
    const name = pick(booked.filter((b) => !cancelled.has(b)));
    if (!name) return book();
    cancelled.add(name);
    const { op, response } = await perform('cancelAppointment', (started) => {
      started.target = name;
      return scheduling.CancelAppointmentRequest.fromPartial({
        name,
        reason: scheduling.CancellationReason.CANCELLATION_REASON_PATIENT_REQUEST,
        requestId: started.requestId,
      });
    });
    if (response?.appointment) op.result = response.appointment.name;
  }

  async function worker(): Promise<void> {
    while (!options.done()) {
      const r = Math.random();
      const before = journal.length;
      if (r < 0.3) await createPatient();
      else if (r < 0.85) await book();
      else await cancel();
      for (const op of journal.slice(before)) options.onOperation?.(op);
    }
  }

  await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
  return journal;
}
