/**
 * The walking skeleton over real servers: nats-server, Janus, and the scheduling, session and audit services as
 * built child processes (launchStack). A front-desk caller books an appointment; the session service sees the booking and
 * creates a Janus videoroom for it; the audit service records both events; one trace id spans all of it.
 * Callers without a token or with bad input are refused and nothing is appended.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { JetStreamEventStore } from '@haven/eventstore';
import { audit, scheduling } from '@haven/proto';
import { accessRefusalStream, callUnary, clientCallMetadata, parseStatusDetails } from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';
import { eventually, type JanusHandle, janusRoomExists } from '@haven/testing';
import { startSkeletonStack, type SkeletonStack } from '../support/skeleton-stack';
import { roomNumberOf } from '../../services/session/src/visit/open-visit';

jest.setTimeout(120_000);

const issuer = createTestIssuer();
let janus: JanusHandle;
let skeleton: SkeletonStack;
let schedulingClient: scheduling.SchedulingServiceClient;
let auditClient: audit.AuditServiceClient;
let store: JetStreamEventStore;

const traceId = randomBytes(16).toString('hex');
const traceparent = `00-${traceId}-${randomBytes(8).toString('hex')}-01`;

beforeAll(async () => {
  skeleton = await startSkeletonStack(issuer.jwks, 'skeleton-test');
  ({ store, scheduling: schedulingClient } = skeleton);
  janus = skeleton.stack.janus!;
  auditClient = skeleton.stack.client(audit.AuditServiceClient, 'audit');
});

afterAll(async () => {
  auditClient?.close();
  await skeleton?.stop();
});

const inOneHour = () => new Date(Date.now() + 3600_000);
const booking = (
  appointmentId: string,
  over: Partial<scheduling.Appointment> = {},
): scheduling.BookAppointmentRequest => ({
  appointmentId,
  requestId: '',
  appointment: scheduling.Appointment.fromPartial({
    clinician: 'users/clin-rivera',
    patient: 'patients/pat-0001',
    startTime: inOneHour(),
    endTime: new Date(inOneHour().getTime() + 30 * 60_000),
    ...over,
  }),
});

const roomExists = (room: number): Promise<boolean> => janusRoomExists(janus.wsUrl, janus.tokenSecret!, room);

describe('the walking skeleton', () => {
  it('books, opens a Janus room for the visit, audits both events, all in one trace', async () => {
    const appointmentId = `apt-${randomUUID()}`;
    const frontDesk = await issuer.sign({ sub: 'u-frontdesk', role: 'front_desk' });
    // Booking needs a registered patient (its PHI sealed with the patient's own key).
    await skeleton.createPatient(frontDesk, 'pat-0001', { givenName: 'Pat', familyName: 'Example' });
    const response = await callUnary(
      schedulingClient,
      'bookAppointment',
      booking(appointmentId),
      clientCallMetadata({ token: frontDesk, traceparent }),
    );
    expect(response.appointment?.name).toBe(`appointments/${appointmentId}`);
    expect(response.appointment?.state).toBe(scheduling.AppointmentState.APPOINTMENT_STATE_SCHEDULED);

    // The session service opened the visit and created its room on Janus.
    const opened = await eventually(
      'VisitOpened',
      async () => (await store.read(`session.visit-${appointmentId}`))[0],
      { timeoutMs: 15_000 },
    );
    expect(opened.type).toBe('haven.session.v1.VisitOpened');
    expect(opened.data['room']).toBe(roomNumberOf(appointmentId));
    expect(opened.actor).toEqual({ kind: 'service', id: 'session' });
    expect(await roomExists(roomNumberOf(appointmentId))).toBe(true);

    // One trace: the caller's trace id is on the booking and on the visit the booking caused.
    const [booked] = await store.read(`scheduling.appointment-${appointmentId}`);
    expect(booked?.traceparent?.split('-')[1]).toBe(traceId);
    expect(opened.traceparent?.split('-')[1]).toBe(traceId);
    expect(opened.causationId).toBe(booked?.id);
    expect(opened.correlationId).toBe(booked?.correlationId);

    // The audit service recorded both, and says who did what.
    const auditor = await issuer.sign({ sub: 'u-auditor', role: 'auditor' });
    const recorded = await eventually(
      'audit records',
      async () => {
        const page = await callUnary(
          auditClient,
          'listAuditEvents',
          audit.ListAuditEventsRequest.fromPartial({ pageSize: 500, patient: 'patients/pat-0001' }),
          clientCallMetadata({ token: auditor }),
        );
        const mine = page.auditEvents.filter((e) => e.stream.endsWith(appointmentId));
        return mine.length >= 2 ? mine : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(recorded.map((e) => e.type).sort()).toEqual(
      ['haven.scheduling.v1.AppointmentBooked', 'haven.session.v1.VisitOpened'].sort(),
    );
    expect(recorded.find((e) => e.type.endsWith('AppointmentBooked'))?.actor?.id).toBe('u-frontdesk');
  });

  it('ends the visit and destroys its Janus room when the appointment is cancelled', async () => {
    const appointmentId = `apt-${randomUUID()}`;
    const frontDesk = await issuer.sign({ sub: 'u-frontdesk', role: 'front_desk' });
    // pat-0001 was registered by the first test; a later start avoids overlapping its appointment.
    const start = new Date(Date.now() + 3 * 3600_000);
    await callUnary(
      schedulingClient,
      'bookAppointment',
      booking(appointmentId, { startTime: start, endTime: new Date(start.getTime() + 30 * 60_000) }),
      clientCallMetadata({ token: frontDesk }),
    );
    const room = roomNumberOf(appointmentId);
    await eventually('the room', async () => ((await roomExists(room)) ? true : undefined), {
      timeoutMs: 15_000,
    });
    await callUnary(
      schedulingClient,
      'cancelAppointment',
      scheduling.CancelAppointmentRequest.fromPartial({
        name: `appointments/${appointmentId}`,
        reason: scheduling.CancellationReason.CANCELLATION_REASON_PATIENT_REQUEST,
      }),
      clientCallMetadata({ token: frontDesk }),
    );
    const ended = await eventually(
      'VisitEnded',
      async () => {
        const events = await store.read(`session.visit-${appointmentId}`);
        return events.find((e) => e.type === 'haven.session.v1.VisitEnded');
      },
      { timeoutMs: 15_000 },
    );
    expect(ended.data['reason']).toBe('appointment_cancelled');
    expect(await roomExists(room)).toBe(false);
  });

  it('refuses a caller without a token with UNAUTHENTICATED and appends nothing', async () => {
    const appointmentId = `apt-${randomUUID()}`;
    const error = await callUnary(
      schedulingClient,
      'bookAppointment',
      booking(appointmentId),
      clientCallMetadata({}),
    ).catch((e: grpc.ServiceError) => e);
    expect((error as grpc.ServiceError).code).toBe(grpc.status.UNAUTHENTICATED);
    expect(await store.read(`scheduling.appointment-${appointmentId}`)).toEqual([]);
  });

  it('records every refused token as an event: missing, expired, unsigned (alg none), signed by an unknown key', async () => {
    const appointmentId = `apt-${randomUUID()}`;
    const stranger = createTestIssuer();
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const body = Buffer.from(
      JSON.stringify({ sub: 'u-x', role: 'admin', iss: 'haven-identity', aud: 'haven', exp: 4102444800 }),
    ).toString('base64url');
    const tokens = {
      expired: await issuer.sign({ sub: 'u-frontdesk', role: 'front_desk' }, { expiresIn: -60 }),
      unsigned: `${header}.${body}.`,
      unknownKey: await stranger.sign({ sub: 'u-frontdesk', role: 'front_desk' }),
    };
    const correlations: string[] = [];
    for (const token of [undefined, tokens.expired, tokens.unsigned, tokens.unknownKey]) {
      const correlationId = randomUUID();
      correlations.push(correlationId);
      const error = (await callUnary(
        schedulingClient,
        'bookAppointment',
        booking(appointmentId),
        clientCallMetadata({ ...(token ? { token } : {}), correlationId }),
      ).catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
      expect(error.code).toBe(grpc.status.UNAUTHENTICATED);
    }
    expect(await store.read(`scheduling.appointment-${appointmentId}`)).toEqual([]);
    const hours = [0, 1].map((h) => new Date(Date.now() - h * 3600_000));
    const refusals = await eventually(
      'four AccessRefused events',
      async () => {
        const events = (
          await Promise.all(hours.map((h) => store.read(accessRefusalStream('scheduling', h))))
        ).flat();
        const mine = events.filter((e) => correlations.includes(e.correlationId));
        return mine.length === 4 ? mine : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(refusals.every((e) => e.type === 'haven.security.v1.AccessRefused')).toBe(true);
    expect(refusals.map((e) => e.data['method'])).toEqual(
      Array(4).fill('/haven.scheduling.v1.SchedulingService/BookAppointment'),
    );
    expect(refusals[0]?.data['reason']).toBe('missing bearer token');
    expect(JSON.stringify(refusals.map((e) => e.data))).not.toContain(tokens.unknownKey.split('.')[2]);
    expect(refusals.map((e) => e.data['reason'])).toEqual([
      'missing bearer token',
      'token expired',
      expect.any(String),
      expect.any(String),
    ]);
  });

  it('refuses bad input with INVALID_ARGUMENT and field violations, and appends nothing', async () => {
    const appointmentId = `apt-${randomUUID()}`;
    const token = await issuer.sign({ sub: 'u-frontdesk', role: 'front_desk' });
    const bad = booking(appointmentId, { startTime: new Date(Date.now() - 3600_000), clinician: 'nobody' });
    const error = (await callUnary(
      schedulingClient,
      'bookAppointment',
      bad,
      clientCallMetadata({ token }),
    ).catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    const details = parseStatusDetails(error);
    expect(details.fieldViolations.map((v) => v.field)).toEqual(
      expect.arrayContaining(['appointment.clinician']),
    );
    expect(await store.read(`scheduling.appointment-${appointmentId}`)).toEqual([]);
  });

  it('refuses the audit log to a front-desk user', async () => {
    const token = await issuer.sign({ sub: 'u-frontdesk', role: 'front_desk' });
    const error = (await callUnary(
      auditClient,
      'listAuditEvents',
      audit.ListAuditEventsRequest.fromPartial({ pageSize: 10 }),
      clientCallMetadata({ token }),
    ).catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
  });
});
