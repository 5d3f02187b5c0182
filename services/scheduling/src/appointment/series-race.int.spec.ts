/**
 * A recurring booking is all or nothing, also when a slot is taken between the series' check and the booking of
 * an occurrence (over a real nats-server): another booking takes the third week while the series books its
 * first; the series then ends with none of its occurrences booked, each undo recorded as events (the
 * occurrence cancelled, its slot released), the other booking untouched, and an error that names the taken
 * week and says nothing of the series was kept.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { EventStore } from '@haven/eventstore';
import { scheduling } from '@haven/proto';
import { callUnary, parseStatusDetails } from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';
import { startSchedulingSuite, type SchedulingSuite } from '../../test/suite';
import { addClinicDays } from './series';

jest.setTimeout(60_000);

const issuer = createTestIssuer();
const ZONE = 'America/New_York';
let suite: SchedulingSuite;
/** Runs once, inside the series' booking of its first occurrence (set by the test). */
let intrude: (() => Promise<void>) | undefined;

/** The service's store, with a hook on the append that books the series' first occurrence. */
function racing(store: EventStore): EventStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== 'append') return Reflect.get(target, prop, receiver) as unknown;
      return async (...args: Parameters<EventStore['append']>) => {
        const [, , events] = args;
        const hook = intrude;
        if (hook && events.some((e) => e.type === 'haven.scheduling.v1.AppointmentBooked')) {
          intrude = undefined;
          await hook();
        }
        return target.append(...args);
      };
    },
  });
}

beforeAll(async () => {
  suite = await startSchedulingSuite({
    issuer,
    dataDirPrefix: 'haven-series-race-',
    env: { HAVEN_CLINIC_TIME_ZONE: ZONE },
    wrapStore: racing,
  });
});
afterAll(async () => suite?.stop());

const desk = () => suite.as('u-desk', 'front_desk');

async function failureOf(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('expected a failure');
}

describe('a slot taken between the series’ check and its booking', () => {
  it('books none of the series, records each undo, and says which week was taken', async () => {
    const patient = await callUnary(
      suite.client,
      'createPatient',
      scheduling.CreatePatientRequest.fromPartial({
        patient: { givenName: 'Rae', familyName: 'Cole', dateOfBirth: '1970-03-04' },
      }),
      await desk(),
    );
    const patientName = patient.patient!.name;
    const clinicianId = `clin-${randomUUID().slice(0, 8)}`;
    const start = new Date(Math.ceil((Date.now() + 3 * 86_400_000) / 3_600_000) * 3_600_000);
    const first = { startTime: start, endTime: new Date(start.getTime() + 30 * 60_000) };
    const week = (k: number) => {
      const s = addClinicDays(start, 7 * k, ZONE);
      return { startTime: s, endTime: new Date(s.getTime() + 30 * 60_000) };
    };
    const book = async (
      times: { startTime: Date; endTime: Date },
      recurrence?: Partial<scheduling.Recurrence>,
      requestId = '',
    ) =>
      callUnary(
        suite.client,
        'bookAppointment',
        scheduling.BookAppointmentRequest.fromPartial({
          appointment: { clinician: `users/${clinicianId}`, patient: patientName, ...times },
          ...(recurrence ? { recurrence } : {}),
          requestId,
        }),
        await desk(),
      );
    let intruder = '';
    intrude = async () => {
      intruder = (await book(week(2))).appointment!.name;
    };

    const requestId = randomUUID();
    const error = await failureOf(book(first, { intervalWeeks: 1, count: 4 }, requestId));
    expect(intruder).not.toBe('');
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    const violations = parseStatusDetails(error).fieldViolations;
    expect(violations.map((v) => v.field)).toEqual(['occurrences[2].start_time']);
    expect(violations[0]!.description).toMatch(/^visit 3 of 4 .*overlaps/);
    expect(violations[0]!.description).toMatch(/none of the series was booked/);

    // The series' events: what was booked before the taken week is cancelled, its slot released; nothing after.
    const events = (await suite.store.read(`scheduling.clinician_schedule-${clinicianId}`)).map((e) => ({
      type: e.type.replace('haven.scheduling.v1.', ''),
      appointmentId: e.data['appointmentId'],
    }));
    const intruderId = intruder.slice('appointments/'.length);
    const ours = events.filter((e) => e.appointmentId !== intruderId);
    expect(ours.map((e) => e.type)).toEqual([
      'ClinicianSlotReserved', // week 0
      'ClinicianSlotReserved', // week 1
      'ClinicianSlotReleased', // week 0, undone
      'ClinicianSlotReleased', // week 1, undone
    ]);
    for (const id of new Set(ours.map((e) => e.appointmentId as string))) {
      const types = (await suite.store.read(`scheduling.appointment-${id}`)).map((e) =>
        e.type.replace('haven.scheduling.v1.', ''),
      );
      expect(types).toEqual(['AppointmentBooked', 'AppointmentCancelled']);
    }
    // A retry of the same request is refused the same way and books nothing.
    const retry = await failureOf(book(first, { intervalWeeks: 1, count: 4 }, requestId));
    expect(retry.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(parseStatusDetails(retry).fieldViolations.map((v) => v.field)).toEqual([
      'occurrences[2].start_time',
    ]);

    // The other booking is untouched, and the series' weeks are free again.
    const other = await callUnary(
      suite.client,
      'getAppointment',
      scheduling.GetAppointmentRequest.fromPartial({ name: intruder }),
      await desk(),
    );
    expect(other.appointment?.state).toBe(scheduling.AppointmentState.APPOINTMENT_STATE_SCHEDULED);
    for (const k of [0, 1, 3]) expect((await book(week(k))).appointment?.name).toBeTruthy();
  });
});
