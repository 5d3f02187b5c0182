/**
 * Retries and faults against scheduling over a real nats-server (issue 11, findings 1 and 2): a retry with the
 * same request_id returns the first result and stores nothing new; a booking interrupted between its writes
 * leaves no slot nobody can book; a handler whose caller's deadline has passed appends nothing.
 * Faults are injected in the store the handlers use: a lost acknowledgement (the append is stored, then the
 * call fails as if NATS dropped the answer) and a failed append (as if the process died before it).
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { NatsConnection } from 'nats';
import { UnavailableError } from '@haven/errors';
import type { EventStore } from '@haven/eventstore';
import { scheduling } from '@haven/proto';
import { callUnary, type CallOptions, clientCallMetadata, parseStatusDetails } from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';
import { checkScheduling, failureOf, readEventLog } from '@haven/testing';
import { startSchedulingSuite, type SchedulingSuite } from '../test/suite';

jest.setTimeout(60_000);

const issuer = createTestIssuer();

/** One-shot faults, armed by a test, consumed by the next matching call. */
const faults: {
  loseAck?: (stream: string) => boolean;
  failAppend?: (stream: string) => boolean;
  slowRead?: { match: (stream: string) => boolean; ms: number };
  /** Runs once after a matching read returned, before the caller sees the result. */
  afterRead?: { match: (stream: string) => boolean; run: () => Promise<void> };
} = {};

function faultyStore(inner: EventStore): EventStore {
  return {
    append: async (stream, expected, events) => {
      if (faults.failAppend?.(stream)) {
        delete faults.failAppend;
        throw new UnavailableError('injected: the process died before this append');
      }
      const result = await inner.append(stream, expected, events);
      if (faults.loseAck?.(stream)) {
        delete faults.loseAck;
        throw new UnavailableError('injected: the acknowledgement was lost');
      }
      return result;
    },
    read: async (stream, options) => {
      const slow = faults.slowRead;
      if (slow?.match(stream)) await new Promise((r) => setTimeout(r, slow.ms));
      const result = await inner.read(stream, options);
      const after = faults.afterRead;
      if (after?.match(stream)) {
        delete faults.afterRead;
        await after.run();
      }
      return result;
    },
    subscribe: (options) => inner.subscribe(options),
    head: (options) => inner.head(options),
    deleteStream: (stream) => inner.deleteStream(stream),
    close: () => inner.close(),
  };
}

let suite: SchedulingSuite;
let client: scheduling.SchedulingServiceClient;
let nc: NatsConnection;

/** JetStream's own duplicate window for this suite: short, so a retry can arrive after it. */
const DUPLICATE_WINDOW_MS = 1_000;

beforeAll(async () => {
  suite = await startSchedulingSuite({
    issuer,
    dataDirPrefix: 'haven-idem-',
    // The event store's stream with a 1 s duplicate window, as the operator provisions it (the service finds it).
    nats: { provision: { duplicateWindowMs: DUPLICATE_WINDOW_MS } },
    wrapStore: faultyStore,
    reconciler: { settleMs: 500, intervalMs: 200 },
  });
  ({ client, connection: nc } = suite);
});

afterAll(async () => {
  await suite?.stop();
});

afterEach(() => {
  delete faults.loseAck;
  delete faults.failAppend;
  delete faults.slowRead;
  delete faults.afterRead;
});

const frontDesk = async (correlationId?: string) =>
  clientCallMetadata({
    token: await issuer.sign({ sub: 'u-frontdesk', role: 'front_desk' }),
    ...(correlationId !== undefined ? { correlationId } : {}),
  });

const patientRequest = (requestId: string, over: Partial<scheduling.Patient> = {}) =>
  scheduling.CreatePatientRequest.fromPartial({
    patient: { givenName: 'Ottilie', familyName: 'Brandvoll', dateOfBirth: '1980-02-29', ...over },
    requestId,
  });

async function newPatient(): Promise<string> {
  const res = await callUnary(client, 'createPatient', patientRequest(randomUUID()), await frontDesk());
  return res.patient!.name.slice('patients/'.length);
}

let minutes = 600;
/** A fresh 30-minute slot in the future, never overlapping an earlier one of this file. */
function slot(): { startTime: Date; endTime: Date } {
  minutes += 60;
  const start = new Date(Math.ceil((Date.now() + minutes * 60_000) / 60_000) * 60_000);
  return { startTime: start, endTime: new Date(start.getTime() + 30 * 60_000) };
}

const bookingRequest = (
  patientId: string,
  clinicianId: string,
  times: { startTime: Date; endTime: Date },
  requestId: string,
) =>
  scheduling.BookAppointmentRequest.fromPartial({
    appointment: {
      clinician: `users/${clinicianId}`,
      patient: `patients/${patientId}`,
      reason: 'follow-up of a sprained ankle',
      ...times,
    },
    requestId,
  });

/**
 * One booking operation with `clinicianId`, for a fresh patient on a fresh slot, with its own request and
 * correlation ids: `send` (re)sends the same request as the front desk, in the operation's flow.
 */
async function bookingOperation(clinicianId: string) {
  const patientId = await newPatient();
  const times = slot();
  const correlationId = randomUUID();
  const request = bookingRequest(patientId, clinicianId, times, randomUUID());
  const send = async (options?: CallOptions) =>
    callUnary(client, 'bookAppointment', request, await frontDesk(correlationId), options);
  return { patientId, times, correlationId, send };
}

const schedulingEvents = () => readEventLog(nc, { filter: 'haven.es.scheduling.>' });

/** CreatePatient as the front desk, in the flow `correlationId` names. */
const createPatient = async (requestId: string, correlationId?: string) =>
  callUnary(client, 'createPatient', patientRequest(requestId), await frontDesk(correlationId));

/** The PatientRegistered events of the flow `correlationId` names. */
const registeredWith = async (correlationId: string) =>
  (await schedulingEvents()).filter(
    (e) => e.type === 'haven.scheduling.v1.PatientRegistered' && e.correlationId === correlationId,
  );

describe('CreatePatient with a request_id', () => {
  it('answers a retry with the first result and registers one patient', async () => {
    const requestId = randomUUID();
    const correlationId = randomUUID();
    const first = await createPatient(requestId, correlationId);
    const second = await createPatient(requestId, correlationId);
    expect(second.patient?.name).toBe(first.patient?.name);
    const registered = await registeredWith(correlationId);
    expect(registered.map((e) => e.stream)).toEqual([
      `scheduling.${first.patient!.name.replace('patients/', 'patient-')}`,
    ]);
  });

  it('registers one patient when the first answer was lost (UNAVAILABLE) and the client retries', async () => {
    const requestId = randomUUID();
    const correlationId = randomUUID();
    faults.loseAck = (stream) => stream.startsWith('scheduling.patient-');
    const lost = await failureOf(createPatient(requestId, correlationId));
    expect(lost.code).toBe(grpc.status.UNAVAILABLE);
    const retry = await createPatient(requestId, correlationId);
    const registered = await registeredWith(correlationId);
    expect(registered).toHaveLength(1);
    expect(retry.patient?.name).toBe(`patients/${registered[0]!.stream.slice('scheduling.patient-'.length)}`);
  });

  it('refuses the same request_id with a different request (INVALID_ARGUMENT on request_id)', async () => {
    const requestId = randomUUID();
    await callUnary(client, 'createPatient', patientRequest(requestId), await frontDesk());
    const error = await failureOf(
      callUnary(
        client,
        'createPatient',
        patientRequest(requestId, { familyName: 'Other' }),
        await frontDesk(),
      ),
    );
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(parseStatusDetails(error).fieldViolations.map((v) => v.field)).toEqual(['request_id']);
  });
});

describe('a retry after JetStream has forgotten the first attempt', () => {
  it('still gets the first result: the key is kept with the events, not in the server dedup window', async () => {
    const requestId = randomUUID();
    const correlationId = randomUUID();
    const first = await createPatient(requestId, correlationId);
    await new Promise((r) => setTimeout(r, DUPLICATE_WINDOW_MS * 2));
    const late = await createPatient(requestId, correlationId);
    expect(late.patient?.name).toBe(first.patient?.name);
    const registered = await registeredWith(correlationId);
    expect(registered).toHaveLength(1);
  });
});

describe('BookAppointment with a request_id', () => {
  it('answers a retry after a lost acknowledgement with the booked appointment, not "overlaps"', async () => {
    const { times, correlationId, send } = await bookingOperation('clin-ack');
    faults.loseAck = (stream) => stream.startsWith('scheduling.appointment-');
    const lost = await failureOf(send());
    expect(lost.code).toBe(grpc.status.UNAVAILABLE);
    const retry = await send();
    expect(retry.appointment?.startTime).toEqual(times.startTime);
    const booked = (await schedulingEvents()).filter(
      (e) => e.type === 'haven.scheduling.v1.AppointmentBooked' && e.correlationId === correlationId,
    );
    expect(booked.map((e) => `appointments/${String(e.data['appointmentId'])}`)).toEqual([
      retry.appointment?.name,
    ]);
  });
});

describe('BookAppointment retried while its first attempt completes', () => {
  it('answers the retry with the first result, not ALREADY_EXISTS (seen as a phantom in the fault soak)', async () => {
    const { correlationId, send } = await bookingOperation('clin-race');
    let first: scheduling.BookAppointmentResponse | undefined;
    // The retry's first look at the appointment finds nothing; the first attempt then completes before the
    // retry looks again.
    faults.afterRead = {
      match: (stream) => stream.startsWith('scheduling.appointment-'),
      run: async () => {
        first = await send();
      },
    };
    const retry = await send();
    expect(first?.appointment?.name).toMatch(/^appointments\//);
    expect(retry.appointment?.name).toBe(first?.appointment?.name);
    expect(await appendedFor(correlationId)).toEqual([
      'haven.scheduling.v1.ClinicianSlotReserved',
      'haven.scheduling.v1.AppointmentBooked',
    ]);
  });
});

/** Appends stored for an operation (its correlation id), by type. */
async function appendedFor(correlationId: string): Promise<string[]> {
  return (await schedulingEvents()).filter((e) => e.correlationId === correlationId).map((e) => e.type);
}

/** A booked appointment of a fresh patient; its id. */
async function booked(times = slot(), clinicianId = 'clin-contract'): Promise<string> {
  const res = await callUnary(
    client,
    'bookAppointment',
    bookingRequest(await newPatient(), clinicianId, times, randomUUID()),
    await frontDesk(),
  );
  return res.appointment!.name;
}

/**
 * The contract of an idempotent RPC: the same request_id twice → the same answer and one event; the same
 * request_id with a different request → INVALID_ARGUMENT on request_id, nothing appended.
 */
function idempotentRpc<R>(
  name: string,
  call: (requestId: string, variant: 'same' | 'different', correlationId: string) => Promise<R>,
  options: { eventType: string; answer: (response: R) => unknown },
): void {
  describe(`${name} with a request_id`, () => {
    it('answers the same request_id twice with the same answer and one event', async () => {
      const requestId = randomUUID();
      const correlationId = randomUUID();
      const first = await call(requestId, 'same', correlationId);
      const second = await call(requestId, 'same', correlationId);
      expect(options.answer(second)).toEqual(options.answer(first));
      expect((await appendedFor(correlationId)).filter((t) => t === options.eventType)).toHaveLength(1);
    });

    it('refuses the same request_id with a different request: INVALID_ARGUMENT, reason REQUEST_ID_REUSED', async () => {
      const requestId = randomUUID();
      await call(requestId, 'same', randomUUID());
      const correlationId = randomUUID();
      const error = await failureOf(call(requestId, 'different', correlationId));
      expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
      const details = parseStatusDetails(error);
      expect(details.fieldViolations.map((v) => v.field)).toEqual(['request_id']);
      expect(details.reason).toBe('REQUEST_ID_REUSED');
      expect(await appendedFor(correlationId)).toEqual([]);
    });
  });
}

idempotentRpc(
  'CreatePatient',
  async (requestId, variant, correlationId) =>
    callUnary(
      client,
      'createPatient',
      patientRequest(requestId, variant === 'different' ? { givenName: 'Otto' } : {}),
      await frontDesk(correlationId),
    ),
  { eventType: 'haven.scheduling.v1.PatientRegistered', answer: (r) => r.patient },
);

let contractPatient: Promise<string> | undefined;
const contractTimes = slot();
idempotentRpc(
  'BookAppointment',
  async (requestId, variant, correlationId) => {
    const times =
      variant === 'different'
        ? { ...contractTimes, endTime: new Date(contractTimes.endTime.getTime() - 60_000) }
        : contractTimes;
    return callUnary(
      client,
      'bookAppointment',
      bookingRequest(
        await (contractPatient ??= newPatient()),
        `clin-${requestId.slice(0, 8)}`,
        times,
        requestId,
      ),
      await frontDesk(correlationId),
    );
  },
  { eventType: 'haven.scheduling.v1.AppointmentBooked', answer: (r) => r.appointment },
);

/** `make(requestId)` once per request id: every retry of one request acts on the same thing. */
function perRequest<T>(make: (requestId: string) => T): (requestId: string) => T {
  const made = new Map<string, T>();
  return (requestId) => {
    if (!made.has(requestId)) made.set(requestId, make(requestId));
    return made.get(requestId)!;
  };
}

const rescheduleTarget = perRequest(() => booked());
idempotentRpc(
  'RescheduleAppointment',
  async (requestId, variant, correlationId) => {
    const name = await rescheduleTarget(requestId);
    const times = slot();
    const moved =
      variant === 'different' ? { ...times, startTime: new Date(times.startTime.getTime() + 60_000) } : times;
    return callUnary(
      client,
      'rescheduleAppointment',
      scheduling.RescheduleAppointmentRequest.fromPartial({
        name,
        ...(variant === 'same' ? fixedMove(requestId) : moved),
        requestId,
      }),
      await frontDesk(correlationId),
    );
  },
  { eventType: 'haven.scheduling.v1.AppointmentRescheduled', answer: (r) => r.appointment },
);

/** The same new slot for every call with this request id. */
const fixedMove = perRequest(() => slot());

const cancelTarget = perRequest(() => booked());
idempotentRpc(
  'CancelAppointment',
  async (requestId, variant, correlationId) => {
    return callUnary(
      client,
      'cancelAppointment',
      scheduling.CancelAppointmentRequest.fromPartial({
        name: await cancelTarget(requestId),
        reason:
          variant === 'same'
            ? scheduling.CancellationReason.CANCELLATION_REASON_PATIENT_REQUEST
            : scheduling.CancellationReason.CANCELLATION_REASON_OTHER,
        requestId,
      }),
      await frontDesk(correlationId),
    );
  },
  { eventType: 'haven.scheduling.v1.AppointmentCancelled', answer: (r) => r.appointment },
);

const noShowTarget = perRequest(async (requestId) => {
  // An appointment that starts in a moment, so that it may be marked no-show.
  const start = new Date(Date.now() + 1_500);
  const name = await booked(
    { startTime: start, endTime: new Date(start.getTime() + 15 * 60_000) },
    `clin-ns-${requestId.slice(0, 8)}`,
  );
  await new Promise((r) => setTimeout(r, 1_600));
  return name;
});
idempotentRpc(
  'MarkNoShow',
  async (requestId, variant, correlationId) => {
    return callUnary(
      client,
      'markNoShow',
      scheduling.MarkNoShowRequest.fromPartial({
        name: await noShowTarget(requestId),
        etag: variant === 'different' ? '0' : '',
        requestId,
      }),
      await frontDesk(correlationId),
    );
  },
  { eventType: 'haven.scheduling.v1.AppointmentMarkedNoShow', answer: (r) => r.appointment },
);

describe('a retry that arrives while the booking is half done', () => {
  it('finishes the booking itself and answers with it', async () => {
    const { times, correlationId, send } = await bookingOperation('clin-half');
    faults.failAppend = (stream) => stream.startsWith('scheduling.appointment-');
    await failureOf(send());
    const retry = await send();
    expect(retry.appointment?.startTime).toEqual(times.startTime);
    expect((await appendedFor(correlationId)).sort()).toEqual([
      'haven.scheduling.v1.AppointmentBooked',
      'haven.scheduling.v1.ClinicianSlotReserved',
    ]);
  });
});

describe('ids chosen by the client', () => {
  it('answer ALREADY_EXISTS for a taken patient_id or appointment_id', async () => {
    const patientId = `p-${randomUUID().slice(0, 8)}`;
    const make = async () =>
      callUnary(
        client,
        'createPatient',
        scheduling.CreatePatientRequest.fromPartial({ ...patientRequest(''), patientId }),
        await frontDesk(),
      );
    await make();
    expect((await failureOf(make())).code).toBe(grpc.status.ALREADY_EXISTS);
    const appointmentId = `a-${randomUUID().slice(0, 8)}`;
    const bookIt = async (times: { startTime: Date; endTime: Date }) =>
      callUnary(
        client,
        'bookAppointment',
        { ...bookingRequest(patientId, 'clin-ids', times, ''), appointmentId },
        await frontDesk(),
      );
    await bookIt(slot());
    expect((await failureOf(bookIt(slot()))).code).toBe(grpc.status.ALREADY_EXISTS);
  });
});

describe('a booking interrupted between its writes', () => {
  it('leaves no slot held for an appointment that does not exist', async () => {
    const { send } = await bookingOperation('clin-crash');
    faults.failAppend = (stream) => stream.startsWith('scheduling.appointment-');
    const error = await failureOf(send());
    expect(error.code).toBe(grpc.status.UNAVAILABLE);
    // Whatever the service does about it (finish the booking or release the slot), within a bounded time the
    // store holds no orphan reservation and no half booking.
    let check = checkScheduling(await schedulingEvents());
    for (let i = 0; i < 60 && (check.orphanReservations.length > 0 || check.halfBookings.length > 0); i++) {
      await new Promise((r) => setTimeout(r, 250));
      check = checkScheduling(await schedulingEvents());
    }
    expect(check.orphanReservations).toEqual([]);
    expect(check.halfBookings).toEqual([]);
  });
});

describe('deadlines', () => {
  it('appends nothing once the caller has given up (DEADLINE_EXCEEDED)', async () => {
    const { patientId, correlationId, send } = await bookingOperation('clin-deadline');
    faults.slowRead = { match: (s) => s === `scheduling.patient-${patientId}`, ms: 800 };
    const error = await failureOf(send({ deadlineMs: 400 }));
    expect(error.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await new Promise((r) => setTimeout(r, 1_200)); // the handler has long finished
    const appended = (await schedulingEvents()).filter((e) => e.correlationId === correlationId);
    expect(appended.map((e) => e.type)).toEqual([]);
  });
});
