/**
 * Appointments (`/api/appointments`): book one (or a weekly series), list a day's, cancel, reschedule or mark one no-show (each of
 * which frees the old slot), issue its patient link, and say what became of its messages to the patient. Every call
 * goes to scheduling with the user's own token; scheduling enforces who may book, see or cancel what.
 */
import type { Response, Router } from 'express';
import { scheduling, session } from '@haven/proto';
import type { RouteContext } from '../context';
import {
  PATH_ID,
  choiceOf,
  dateField,
  lastSegment,
  pathId,
  queryText,
  resourceName,
  stringField,
} from '../http';
import type { HttpFieldViolation } from '../http-errors';
import { idempotencyKey } from '../security';
import { appointmentView, visitCounts, visitView } from '../visit-view';
import type {
  BookedAppointmentJson,
  AppointmentListView,
  BookingView,
  DeliveryListView,
  PatientLinkView,
  WaitingListView,
  WaitingView,
} from '../appointment-view';
import { LIST_FIELDS, staff } from './guards';
import { oneCall } from './one-call';
import type { CallInput } from './one-call';

const APPOINTMENT_FIELDS = {
  appointment: 'form',
  'appointment.clinician': 'clinicianId',
  'appointment.patient': 'patientId',
  'appointment.start_time': 'startTime',
  'appointment.end_time': 'endTime',
  'appointment.reason': 'reason',
  request_id: 'idempotencyKey',
  recurrence: 'repeatEveryWeeks',
  'recurrence.interval_weeks': 'repeatEveryWeeks',
  'recurrence.count': 'repeatCount',
  'recurrence.until': 'repeatUntil',
} as const;
const CANCEL_REASONS: Readonly<Record<string, scheduling.CancellationReason>> = {
  patient_request: scheduling.CancellationReason.CANCELLATION_REASON_PATIENT_REQUEST,
  clinician_unavailable: scheduling.CancellationReason.CANCELLATION_REASON_CLINICIAN_UNAVAILABLE,
  booked_in_error: scheduling.CancellationReason.CANCELLATION_REASON_BOOKED_IN_ERROR,
  other: scheduling.CancellationReason.CANCELLATION_REASON_OTHER,
};
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const TIME_ZONE = /^[A-Za-z0-9_+\-/]{1,64}$/;
/** How long before the start a patient link opens (scheduling's LinkPolicy.opensBeforeStartMinutes). */
const LINK_OPENS_BEFORE_START_MS = 15 * 60_000;

/** The booking form as a BookAppointmentRequest; its field violations in `violations`. */
function bookRequest({ req, body, violations }: CallInput): scheduling.BookAppointmentRequest {
  const clinicianId = stringField(body, 'clinicianId', 80, violations);
  const patientId = stringField(body, 'patientId', 80, violations);
  const startTime = dateField(body, 'startTime', violations);
  const endTime = dateField(body, 'endTime', violations);
  const reason = stringField(body, 'reason', 2000, violations);
  const requestId = idempotencyKey(req, violations);
  const recurrence = recurrenceOf(body, violations);
  return scheduling.BookAppointmentRequest.fromPartial({
    ...(recurrence ? { recurrence } : {}),
    appointment: {
      clinician: resourceName('users', clinicianId),
      patient: resourceName('patients', patientId),
      startTime,
      endTime,
      reason: reason ?? '',
    },
    requestId,
  });
}

/** A whole number field from 0 to 1000, when given; records a violation otherwise. */
function smallNumber(body: Record<string, unknown>, field: string, violations: HttpFieldViolation[]) {
  const value = body[field];
  if (value === undefined || value === null || value === '') return undefined;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 1000) {
    violations.push({ field, description: 'must be a whole number' });
    return undefined;
  }
  return n;
}

/**
 * A recurring booking's rule (`repeatEveryWeeks` with `repeatCount` or `repeatUntil`), undefined for a single
 * appointment. Scheduling checks the rule itself.
 */
function recurrenceOf(
  body: Record<string, unknown>,
  violations: HttpFieldViolation[],
): Partial<scheduling.Recurrence> | undefined {
  const intervalWeeks = smallNumber(body, 'repeatEveryWeeks', violations);
  const count = smallNumber(body, 'repeatCount', violations);
  const until = dateField(body, 'repeatUntil', violations);
  if (intervalWeeks === undefined && count === undefined && until === undefined) return undefined;
  return { intervalWeeks: intervalWeeks ?? 0, count: count ?? 0, ...(until ? { until } : {}) };
}

/** The day list's query as a ListAppointmentsRequest; its field violations in `violations`. */
function listRequest({ req, violations }: CallInput): scheduling.ListAppointmentsRequest {
  const day = queryText(req, 'day');
  const timeZone = queryText(req, 'timeZone');
  const clinicianId = queryText(req, 'clinicianId');
  if (day !== '' && !DAY.test(day)) violations.push({ field: 'day', description: 'must be YYYY-MM-DD' });
  if (timeZone !== '' && !TIME_ZONE.test(timeZone))
    violations.push({ field: 'timeZone', description: 'must be an IANA time zone' });
  if (clinicianId !== '' && !PATH_ID.test(clinicianId))
    violations.push({ field: 'clinicianId', description: 'must be a user id' });
  return scheduling.ListAppointmentsRequest.fromPartial({
    pageSize: 200,
    day,
    timeZone,
    clinician: clinicianId === '' ? '' : `users/${clinicianId}`,
  });
}

/** Issues the appointment's patient link (a new one replaces the old) and says from when to when it works. */
async function issueLink(
  ctx: RouteContext,
  res: Response,
  token: string,
  id: string,
): Promise<PatientLinkView> {
  const { clients } = ctx;
  const r = await ctx.call(
    res,
    token,
    clients.scheduling,
    'issuePatientLink',
    scheduling.IssuePatientLinkRequest.fromPartial({ appointment: `appointments/${id}` }),
  );
  const got = await ctx
    .call(
      res,
      token,
      clients.scheduling,
      'getAppointment',
      scheduling.GetAppointmentRequest.fromPartial({ name: `appointments/${id}` }),
    )
    .catch(() => undefined);
  const start = got?.appointment?.startTime;
  return {
    url: r.url,
    passcode: r.passcode,
    validFrom: start ? new Date(start.getTime() - LINK_OPENS_BEFORE_START_MS).toISOString() : null,
    validUntil: r.patientLink?.expireTime?.toISOString() ?? null,
    dateOfBirthRequired: r.patientLink?.dateOfBirthRequired ?? false,
  };
}

/** The cancellation: a reason among CANCEL_REASONS (default other) and whether the series' later ones go too. */
function cancelRequest({ id, body, violations }: CallInput): scheduling.CancelAppointmentRequest {
  const reasonName = stringField(body, 'reason', 40, violations) ?? 'other';
  const reason = choiceOf(CANCEL_REASONS, reasonName);
  if (reason === undefined)
    violations.push({
      field: 'reason',
      description: `must be one of ${Object.keys(CANCEL_REASONS).join(', ')}`,
    });
  // `following: true` cancels the later occurrences of its series too ("this and the following").
  const includeFollowing = body['following'] === true;
  return scheduling.CancelAppointmentRequest.fromPartial({
    name: `appointments/${id}`,
    ...(reason === undefined ? {} : { reason }),
    includeFollowing,
  });
}

/** One appointment as the pages see it, or null. */
const oneAppointment = (r: { appointment?: scheduling.Appointment | undefined }) => ({
  appointment: r.appointment ? appointmentView(r.appointment) : null,
});

/** Registers the appointment routes on the /api router. */
export function registerAppointmentRoutes(api: Router, ctx: RouteContext): void {
  api.post(
    '/appointments',
    staff(
      ctx,
      { rpc: 'scheduling.BookAppointment', fields: APPOINTMENT_FIELDS },
      oneCall(ctx, {
        client: 'scheduling',
        method: 'bookAppointment',
        request: bookRequest,
        status: 201,
        view: ({ appointment, occurrences }): BookingView => ({
          appointment: appointment
            ? (scheduling.Appointment.toJSON({ ...appointment, reason: '' }) as BookedAppointmentJson)
            : null,
          // A recurring booking: every occurrence (its own appointment), in order.
          occurrences: occurrences.map(appointmentView),
        }),
      }),
    ),
  );

  api.get(
    '/appointments',
    staff(
      ctx,
      { rpc: 'scheduling.ListAppointments', fields: LIST_FIELDS },
      oneCall(ctx, {
        client: 'scheduling',
        method: 'listAppointments',
        request: listRequest,
        view: (r): AppointmentListView => ({ appointments: r.appointments.map(appointmentView) }),
      }),
    ),
  );

  api.post(
    '/appointments/:id/link',
    staff(
      ctx,
      { rpc: 'scheduling.IssuePatientLink', fields: { appointment: 'id' } },
      async (req, res, { token }) => {
        const id = pathId(req, res);
        if (!id) return;
        res.status(201).json(await issueLink(ctx, res, token, id));
      },
    ),
  );

  api.post(
    '/appointments/:id/cancel',
    staff(
      ctx,
      { rpc: 'scheduling.CancelAppointment', fields: { reason: 'reason' } },
      oneCall(ctx, {
        client: 'scheduling',
        method: 'cancelAppointment',
        request: cancelRequest,
        view: (r) => ({ ...oneAppointment(r), following: r.following.map(appointmentView) }),
      }),
    ),
  );
  registerAppointmentChanges(api, ctx);
  registerWaiting(api, ctx);
  registerDeliveries(api, ctx);
}

const DELIVERY_KIND: Readonly<Record<number, string>> = {
  [scheduling.MessageKind.MESSAGE_KIND_INVITATION]: 'invitation',
  [scheduling.MessageKind.MESSAGE_KIND_RESCHEDULED]: 'rescheduled',
  [scheduling.MessageKind.MESSAGE_KIND_CANCELLED]: 'cancelled',
  [scheduling.MessageKind.MESSAGE_KIND_REMINDER]: 'reminder',
  [scheduling.MessageKind.MESSAGE_KIND_PASSCODE]: 'passcode',
  [scheduling.MessageKind.MESSAGE_KIND_MESSAGES_LINK]: 'messages_link',
};
const DELIVERY_CHANNEL: Readonly<Record<number, string>> = {
  [scheduling.MessageChannel.MESSAGE_CHANNEL_EMAIL]: 'email',
  [scheduling.MessageChannel.MESSAGE_CHANNEL_SMS]: 'sms',
};
const DELIVERY_STATE: Readonly<Record<number, string>> = {
  [scheduling.MessageDeliveryState.MESSAGE_DELIVERY_STATE_SCHEDULED]: 'scheduled',
  [scheduling.MessageDeliveryState.MESSAGE_DELIVERY_STATE_SENDING]: 'sending',
  [scheduling.MessageDeliveryState.MESSAGE_DELIVERY_STATE_SENT]: 'sent',
  [scheduling.MessageDeliveryState.MESSAGE_DELIVERY_STATE_FAILED]: 'failed',
  [scheduling.MessageDeliveryState.MESSAGE_DELIVERY_STATE_SUPPRESSED]: 'suppressed',
};

/**
 * GET /appointments/:id/deliveries: what became of each message to the patient about the appointment (scheduling
 * ListMessageDeliveries; codes and times only, no PHI). Front desk, admins and the appointment's clinician.
 */
function registerDeliveries(api: Router, ctx: RouteContext): void {
  api.get(
    '/appointments/:id/deliveries',
    staff(
      ctx,
      { rpc: 'scheduling.ListMessageDeliveries', fields: { parent: 'id' } },
      oneCall(ctx, {
        client: 'scheduling',
        method: 'listMessageDeliveries',
        request: ({ id }) =>
          scheduling.ListMessageDeliveriesRequest.fromPartial({ parent: `appointments/${id}` }),
        view: (r): DeliveryListView => ({
          deliveries: r.messageDeliveries.map((d) => ({
            id: lastSegment(d.name),
            kind: DELIVERY_KIND[d.kind] ?? 'unknown',
            channel: DELIVERY_CHANNEL[d.channel] ?? 'unknown',
            state: DELIVERY_STATE[d.state] ?? 'unknown',
            reason: d.reason,
            offsetMinutes: d.offsetMinutes,
            dueTime: d.dueTime?.toISOString() ?? null,
            updateTime: d.updateTime?.toISOString() ?? null,
            attempts: d.attempts,
          })),
        }),
      }),
    ),
  );
}

/**
 * GET /appointments/waiting: for the front desk's day view, each of today's visits by appointment with how many
 * are waiting and how many are in the visit (session ListVisits, which gives the front desk participants'
 * roles and states only). Nothing else about a visit: no names, no times, no ids of participants.
 */
function registerWaiting(api: Router, ctx: RouteContext): void {
  api.get(
    '/appointments/waiting',
    staff(ctx, { rpc: 'session.ListVisits', roles: ['front_desk'] }, async (_req, res, { token }) => {
      const client = ctx.clients.session;
      if (!client) {
        res.status(200).json({ visits: [] } satisfies WaitingListView);
        return;
      }
      const r = await ctx.call(
        res,
        token,
        client,
        'listVisits',
        session.ListVisitsRequest.fromPartial({ pageSize: 100 }),
      );
      const waiting: WaitingListView = {
        visits: r.visits.map((v): WaitingView => {
          const view = visitView(v);
          const { lobbyCount, admittedCount } = visitCounts(view);
          return {
            appointmentId: view.appointmentId,
            status: view.status,
            waiting: lobbyCount,
            inVisit: admittedCount,
          };
        }),
      };
      res.status(200).json(waiting);
    }),
  );
}

/** Reschedule and no-show: both free the appointment's old slot; idempotent with an Idempotency-Key. */
function registerAppointmentChanges(api: Router, ctx: RouteContext): void {
  // Moves an appointment (the new slot is reserved first; the old one is freed).
  api.post(
    '/appointments/:id/reschedule',
    staff(
      ctx,
      {
        rpc: 'scheduling.RescheduleAppointment',
        fields: { start_time: 'startTime', end_time: 'endTime', request_id: 'idempotencyKey' },
      },
      oneCall(ctx, {
        client: 'scheduling',
        method: 'rescheduleAppointment',
        request: ({ req, id, body, violations }) =>
          scheduling.RescheduleAppointmentRequest.fromPartial({
            name: `appointments/${id}`,
            startTime: dateField(body, 'startTime', violations),
            endTime: dateField(body, 'endTime', violations),
            requestId: idempotencyKey(req, violations),
          }),
        view: oneAppointment,
      }),
    ),
  );

  // Marks a started appointment as missed (no-show): its link dies and its slot is freed.
  api.post(
    '/appointments/:id/no-show',
    staff(
      ctx,
      { rpc: 'scheduling.MarkNoShow', fields: { request_id: 'idempotencyKey' } },
      oneCall(ctx, {
        client: 'scheduling',
        method: 'markNoShow',
        request: ({ req, id, violations }) =>
          scheduling.MarkNoShowRequest.fromPartial({
            name: `appointments/${id}`,
            requestId: idempotencyKey(req, violations),
          }),
        view: oneAppointment,
      }),
    ),
  );
}
